-- The regional centre's scorecard («светофор», profile section `scorecard:`): one row per card
-- each time the evaluator finds it changed, for every page of an organisation (platform, page_id)
-- and for the organisation (platform 'any', page_id ''). The card of a week is, per organisation,
-- the latest row before the week ends (argMax by scored_at): an unchanged card is not written
-- again. `version` is the profile's scorecard version, so weeks scored under other weights are
-- told apart. `points` and `maximum` map criterion ids (connection, gov_mark, avatar, description,
-- cover, widgets, activity, reach_week, reach_post) to points and weights; `not_evaluable` lists
-- the criteria that scored 0 because the data did not show them; `facts` holds the page's facts the
-- card was computed from (absent key: unknown), which a restarted evaluator reads back.
CREATE TABLE IF NOT EXISTS ${database}.scorecards
(
    scored_at      DateTime64(3, 'UTC'),
    week           LowCardinality(String),
    profile        LowCardinality(String),
    version        UInt32,
    region         LowCardinality(String),
    org_id         String,
    org_name       String,
    level          LowCardinality(String),
    founder        String,
    municipality   LowCardinality(String),
    sphere         LowCardinality(String),
    platform       LowCardinality(String),
    page_id        String,
    total          Float64,
    colour         LowCardinality(String),
    points         Map(String, Float64),
    maximum        Map(String, Float64),
    not_evaluable  Array(String),
    facts          Map(String, Float64)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(scored_at)
ORDER BY (region, org_id, platform, page_id, scored_at)
TTL toDateTime(scored_at) + INTERVAL 1095 DAY
SETTINGS non_replicated_deduplication_window = 10000;

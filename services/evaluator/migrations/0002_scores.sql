-- Citizens' comments, the scores of each organisation and page, and their roll-ups by founder,
-- municipality, sphere, level and region. Every MergeTree table, the roll-up target included, sets
-- non_replicated_deduplication_window so that insert_deduplication_token works (a deduplicated
-- insert into scores is not passed on to the roll-up either).

-- One row per comment per observation (only its shape: who, when, in reply to what).
CREATE TABLE IF NOT EXISTS ${database}.comments
(
    observed_at   DateTime64(3, 'UTC'),
    sweep_id      String,
    platform      LowCardinality(String),
    page_id       String,
    org_id        String,
    post_id       String,
    comment_id    String,
    from_id       String,
    author_kind   LowCardinality(String),
    reply_to      String,
    posted_at     DateTime64(3, 'UTC'),
    text_len      UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(observed_at)
ORDER BY (platform, page_id, post_id, comment_id, observed_at)
TTL toDateTime(observed_at) + INTERVAL 180 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- A score each time an evaluation computes one. component: design ("Оформление %", 0..100),
-- frequency ("Частотность", 0..1), engagement ("Вовлеченность", ER percentile in the cohort, 0..1),
-- er (the raw engagement rate), response ("Отклик", 0..1) and compliance (overall, 0..1, for the
-- organisation: platform "any"). The organisation's current score is the latest row per component.
CREATE TABLE IF NOT EXISTS ${database}.scores
(
    scored_at     DateTime64(3, 'UTC'),
    profile       LowCardinality(String),
    org_id        String,
    platform      LowCardinality(String),
    page_id       String,
    component     LowCardinality(String),
    value         Float64,
    region        LowCardinality(String),
    level         LowCardinality(String),
    sphere        LowCardinality(String),
    founder       String,
    municipality  LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(scored_at)
ORDER BY (component, org_id, platform, page_id, scored_at)
TTL toDateTime(scored_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Daily roll-ups: per dimension (founder, municipality, sphere, level, region) and value, the mean
-- of each score component that day and how many organisations it covers. Read with
-- avgMerge(mean), minMerge(minimum), uniqMerge(organisations) ... GROUP BY.
CREATE TABLE IF NOT EXISTS ${database}.score_rollups
(
    day              Date,
    dimension        LowCardinality(String),
    dimension_value  String,
    component        LowCardinality(String),
    mean             AggregateFunction(avg, Float64),
    minimum          AggregateFunction(min, Float64),
    organisations    AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (dimension, dimension_value, component, day)
TTL day + INTERVAL 1095 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.score_rollups_mv
TO ${database}.score_rollups
AS SELECT
    toDate(scored_at) AS day,
    dim.1 AS dimension,
    dim.2 AS dimension_value,
    component,
    avgState(value) AS mean,
    minState(value) AS minimum,
    uniqState(org_id) AS organisations
FROM ${database}.scores
ARRAY JOIN [
    ('founder', founder),
    ('municipality', toString(municipality)),
    ('sphere', toString(sphere)),
    ('level', toString(level)),
    ('region', toString(region))
] AS dim
WHERE component != 'er'
GROUP BY day, dimension, dimension_value, component;

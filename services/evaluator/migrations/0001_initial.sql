-- The register, the latest page state, raw observations, every verdict and the violation log.
-- ${database} is replaced with the configured database name. The same DDL runs on chDB and on a
-- ClickHouse server. Every MergeTree table sets non_replicated_deduplication_window: without it
-- insert_deduplication_token is ignored and a retried batch would be stored twice. Integers that
-- come from the event contracts (counters, VK flags) are Int64: a narrower type would turn an odd
-- value into a batch that cannot be inserted.

-- Latest version of each organisation as registered (one row per org after merges; read with FINAL).
CREATE TABLE IF NOT EXISTS ${database}.organisations
(
    org_id            String,
    name              String,
    level             LowCardinality(String),
    founder           String,
    municipality      LowCardinality(String),
    sphere            LowCardinality(String),
    exempt            Bool,
    region            LowCardinality(String),
    page_platforms    Array(LowCardinality(String)),
    page_native_ids   Array(String),
    registry_version  String,
    registered_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(registered_at)
ORDER BY org_id
SETTINGS non_replicated_deduplication_window = 10000;

-- Latest observed state of each registered page. status is what the last observation said
-- (live, gone, unavailable) and reason why; liveness is what the presence rule uses, carried over
-- an API error that says nothing about the page.
CREATE TABLE IF NOT EXISTS ${database}.pages
(
    platform                    LowCardinality(String),
    native_id                   String,
    page_id                     String,
    org_id                      String,
    status                      LowCardinality(String),
    reason                      LowCardinality(String),
    liveness                    LowCardinality(String),
    name                        String,
    screen_name                 String,
    members                     Nullable(Int64),
    wall                        Nullable(Int64),
    is_closed                   Int64,
    description_len             UInt32,
    has_phone                   Bool,
    is_government_organization  Nullable(Bool),
    verified                    Bool,
    observed_at                 DateTime64(3, 'UTC'),
    sweep_id                    String
)
ENGINE = ReplacingMergeTree(observed_at)
ORDER BY (platform, native_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS ${database}.page_snapshots
(
    observed_at                 DateTime64(3, 'UTC'),
    sweep_id                    String,
    event_id                    String,
    platform                    LowCardinality(String),
    native_id                   String,
    page_id                     String,
    org_id                      String,
    screen_name                 String,
    name                        String,
    description                 String,
    site                        String,
    links                       Array(String),
    phones                      Array(String),
    emails                      Array(String),
    address                     String,
    members                     Nullable(Int64),
    is_closed                   Int64,
    is_government_organization  Nullable(Bool),
    verified                    Bool,
    wall                        Nullable(Int64),
    has_photo                   Nullable(Bool),
    has_cover                   Nullable(Bool)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(observed_at)
ORDER BY (platform, page_id, observed_at)
TTL toDateTime(observed_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- One row per post per observation: the highest-volume table, so only counters and flags.
CREATE TABLE IF NOT EXISTS ${database}.post_observations
(
    observed_at     DateTime64(3, 'UTC'),
    sweep_id        String,
    platform        LowCardinality(String),
    page_id         String,
    org_id          String,
    post_id         String,
    posted_at       DateTime64(3, 'UTC'),
    is_own          Bool,
    is_repost       Bool,
    is_pinned       Bool,
    comments_open   Bool,
    comments_count  Int64,
    likes           Int64,
    reposts         Int64,
    views           Nullable(Int64),
    text_len        UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(observed_at)
ORDER BY (platform, page_id, post_id, observed_at)
TTL toDateTime(observed_at) + INTERVAL 180 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Every verdict of every rule, pass or fail: the history behind dashboards and scores.
CREATE TABLE IF NOT EXISTS ${database}.check_results
(
    checked_at  DateTime64(3, 'UTC'),
    sweep_id    String,
    profile     LowCardinality(String),
    org_id      String,
    platform    LowCardinality(String),
    page_id     String,
    rule        LowCardinality(String),
    status      LowCardinality(String),
    severity    LowCardinality(String),
    value       String,
    threshold   String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(checked_at)
ORDER BY (rule, org_id, platform, page_id, checked_at)
TTL toDateTime(checked_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Transition log: a row when a violation opens and one when it resolves. The latest row per
-- violation_id is its state; an evaluator rebuilds its open violations from it at start. The TTL is
-- long because an open row must outlive the violation.
CREATE TABLE IF NOT EXISTS ${database}.violations
(
    violation_id  String,
    state         LowCardinality(String),
    org_id        String,
    org_name      String,
    founder       String,
    municipality  LowCardinality(String),
    sphere        LowCardinality(String),
    level         LowCardinality(String),
    platform      LowCardinality(String),
    page_id       String,
    page_url      String,
    rule          LowCardinality(String),
    severity      LowCardinality(String),
    summary       String,
    basis         String,
    value         String,
    threshold     String,
    opened_at     DateTime64(3, 'UTC'),
    resolved_at   Nullable(DateTime64(3, 'UTC')),
    changed_at    DateTime64(6, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(changed_at)
ORDER BY (violation_id, changed_at)
TTL toDateTime(changed_at) + INTERVAL 1095 DAY
SETTINGS non_replicated_deduplication_window = 10000;

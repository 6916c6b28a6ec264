"""The storage schema as the code reads and writes it, declared once.

The migrations (``migrations/*.sql``) are the source of the DDL. This module names, per table, the
columns a flush inserts (in the order the row tuples of ``handlers`` hold them) and the columns a
restarted evaluator reads back; a unit test applies the migrations' DDL and checks every list here
against it, so a column added, renamed or reordered in one place and not the other fails there.

It also holds the one "open violations" query: the state loader, the report and the tests all read
the open violations through :func:`open_violations_sql`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# Every table the migrations create (the materialised view's target included).
TABLES = (
    "organisations",
    "pages",
    "page_snapshots",
    "post_observations",
    "comments",
    "scores",
    "score_rollups",
    "check_results",
    "scorecards",
    "violations",
)

# Where applied migrations are recorded; created before any migration runs.
SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    version     UInt32,
    name        String,
    checksum    String,
    applied_at  DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version
SETTINGS non_replicated_deduplication_window = 10000
"""
SCHEMA_MIGRATIONS_COLUMNS = ("version", "name", "checksum", "applied_at")

# The columns a flush inserts into each table, in the order of the row tuples.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "organisations": (
        "org_id", "name", "level", "founder", "municipality", "sphere", "exempt", "region",
        "page_platforms", "page_native_ids", "registry_version", "registered_at",
    ),
    "pages": (
        "platform", "native_id", "page_id", "org_id", "status", "reason", "liveness", "name",
        "screen_name", "members", "wall", "is_closed", "description_len", "has_phone",
        "is_government_organization", "verified", "observed_at", "sweep_id",
    ),
    "page_snapshots": (
        "observed_at", "sweep_id", "event_id", "platform", "native_id", "page_id", "org_id",
        "screen_name", "name", "description", "site", "links", "phones", "emails", "address",
        "members", "is_closed", "is_government_organization", "verified", "wall", "has_photo",
        "has_cover",
    ),
    "post_observations": (
        "observed_at", "sweep_id", "platform", "page_id", "org_id", "post_id", "posted_at",
        "is_own", "is_repost", "is_pinned", "comments_open", "comments_count", "likes", "reposts",
        "views", "text_len",
    ),
    "comments": (
        "observed_at", "sweep_id", "platform", "page_id", "org_id", "post_id", "comment_id",
        "from_id", "author_kind", "reply_to", "posted_at", "text_len",
    ),
    "scores": (
        "scored_at", "profile", "org_id", "platform", "page_id", "component", "value", "region",
        "level", "sphere", "founder", "municipality",
    ),
    "check_results": (
        "checked_at", "sweep_id", "profile", "org_id", "platform", "page_id", "rule", "status",
        "severity", "value", "threshold",
    ),
    "scorecards": (
        "scored_at", "week", "profile", "version", "region", "org_id", "org_name", "level",
        "founder", "municipality", "sphere", "platform", "page_id", "total", "colour", "points",
        "maximum", "not_evaluable", "facts",
    ),
    "violations": (
        "violation_id", "state", "org_id", "org_name", "founder", "municipality", "sphere",
        "level", "platform", "page_id", "page_url", "rule", "severity", "summary", "basis",
        "value", "threshold", "opened_at", "resolved_at", "changed_at",
    ),
}  # fmt: skip

# The order in which a flush writes: the violation log last, right before the alerts go out.
TABLE_ORDER = tuple(TABLE_COLUMNS)

# What a restarted evaluator reads back (``store.load_state``), in the order it unpacks them.
ORGANISATION_STATE_COLUMNS = (
    "org_id", "name", "level", "founder", "municipality", "sphere", "exempt", "page_platforms",
    "page_native_ids", "region",
)  # fmt: skip
PAGE_STATE_COLUMNS = (
    "platform", "native_id", "page_id", "org_id", "liveness", "name", "observed_at", "members",
)  # fmt: skip
# An open violation's labels, summary and opening time: enough to resolve it later.
OPEN_VIOLATION_COLUMNS = (
    "violation_id", "org_id", "org_name", "founder", "municipality", "sphere", "level",
    "platform", "page_id", "page_url", "rule", "severity", "summary", "value", "threshold",
    "opened_at",
)  # fmt: skip

_OPEN_ORDER = "org_id, platform, page_id, rule"


def open_violations_sql(
    columns: tuple[str, ...] = OPEN_VIOLATION_COLUMNS, order_by: str = _OPEN_ORDER
) -> str:
    """The open violations: each violation's latest row (the violation log is append-only), kept
    when it says "open". The database is the query parameter ``db`` (``{db:Identifier}``).

    ``columns`` and ``order_by`` are names of the violations table's columns, checked here: they
    are spliced into the text, values never are.
    """
    known = set(TABLE_COLUMNS["violations"])
    ordering = [part.strip() for part in order_by.split(",")]
    unknown = [name for name in (*columns, *ordering) if name not in known]
    if unknown or not columns:
        raise ValueError(f"not columns of the violations table: {unknown or columns}")
    return (
        f"SELECT {', '.join(columns)} FROM ("
        " SELECT * FROM {db:Identifier}.violations"
        " ORDER BY changed_at DESC LIMIT 1 BY violation_id"
        f") WHERE state = 'open' ORDER BY {', '.join(ordering)}"
    )


# --- migrations ------------------------------------------------------------------------------


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self, database: str) -> list[str]:
        lines = [line for line in self.sql.splitlines() if not line.lstrip().startswith("--")]
        text = Template("\n".join(lines)).substitute(database=database)
        return [s.strip() for s in text.split(";") if s.strip()]


def read_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_snake_name.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migrations share a version number")
    return migrations

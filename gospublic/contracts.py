"""Versioned event contracts: the only thing the services share.

Every message on NATS is one of the models below, serialised as JSON. The ``schema`` field names the
model and its version (``"PageSnapshot/1"``); a consumer that meets a name it does not know, or a
version newer than it understands, dead-letters the message with the reason instead of guessing.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
)

# --- NATS topology -----------------------------------------------------------------------------

TASKS_STREAM = "TASKS"
EVENTS_STREAM = "EVENTS"
ALERTS_STREAM = "ALERTS"
DEADLETTER_STREAM = "DEADLETTER"

REGISTRY_BUCKET = "registry"
CURSORS_BUCKET = "cursors"
NOTIFICATION_LOG_BUCKET = "notification-log"
SILENCES_BUCKET = "silences"
# Pages a platform pushed news about (gospublic.pushmarks); a mark is a hint for two days.
PUSHES_BUCKET = "pushes"
PUSH_MARK_TTL_S = 2 * 86_400

# Durable names carry a version because some consumer fields cannot change once it exists.
COLLECTOR_DURABLE = "collector-{platform}-v1"
EVALUATOR_DURABLE = "evaluator-v1"
NOTIFIER_DURABLE = "notifier-v1"

MAX_EVENT_BYTES = 1024 * 1024


def task_subject(platform: str) -> str:
    return f"tasks.collect.{platform}"


# Page events and the register's chunks are partitioned by the organisation's region, so that each
# evaluator replica owns a fixed set of partitions (docs/DESIGN.md, "Partitioned evaluators"). The
# count is part of the contract, not a setting: every producer and every evaluator must agree on
# it, and changing it moves regions to other subjects (a migration: drain the evaluators first).
EVENT_PARTITIONS = 16
EVENTS_ALL = "events.>"


def region_partition(region: str) -> int:
    """The partition of a region's events: a stable hash of the register's region key (Python's
    ``hash`` of a string differs between processes). An organisation of no known region is ""."""
    digest = hashlib.sha256(region.encode()).digest()
    return int.from_bytes(digest[:8], "big") % EVENT_PARTITIONS


def event_subject(platform: str, kind: str, partition: int) -> str:
    """``events.<partition>.<platform>.<kind>``: a page event, or the register (``registry``)."""
    if not 0 <= partition < EVENT_PARTITIONS:
        raise ValueError(f"partition {partition} is not in 0..{EVENT_PARTITIONS - 1}")
    return f"events.{partition}.{platform}.{kind}"


def event_filter(platform: str = "*", kind: str = "*") -> str:
    """A subject filter for one platform's (and kind's) events in every partition."""
    return f"events.*.{platform}.{kind}"


def subject_partition(subject: str) -> int | None:
    """The partition an EVENTS subject is in; None for one published before subjects had them."""
    head, _, rest = subject.partition(".")
    number = rest.partition(".")[0]
    if head != "events" or not number.isdigit():
        return None
    return int(number)


def registry_subject(region: str) -> str:
    """A register's chunks go to its region's partition: the evaluator that owns it evaluates
    every page of those organisations, and no other evaluator needs them."""
    return event_subject("registry", "organisations", region_partition(region))


def partition_filters(partitions: Iterable[int]) -> list[str]:
    """The EVENTS subjects of the given partitions, one filter each (``events.<p>.>``)."""
    return [f"events.{p}.>" for p in sorted(set(partitions))]


def partitions_spec(partitions: Iterable[int]) -> str:
    """The canonical text of a partition set: ranges joined by "_" ("0-3_8_10-11"), so that one
    set has one name, whichever way it was written."""
    ordered = sorted(set(partitions))
    runs: list[list[int]] = []
    for p in ordered:
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return "_".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def evaluator_durable(partitions: Iterable[int]) -> str:
    """The evaluator's durable consumer for the partitions it owns. Owning all of them it is
    ``EVALUATOR_DURABLE`` as before partitioning; a subset names its partitions, so two replicas
    with different sets never share a durable."""
    owned = set(partitions)
    if owned == set(range(EVENT_PARTITIONS)):
        return EVALUATOR_DURABLE
    return f"{EVALUATOR_DURABLE}-p{partitions_spec(owned)}"


def alert_subject(severity: str, rule: str) -> str:
    return f"alerts.{severity.lower()}.{rule.lower()}"


def scores_subject(org_id: str) -> str:
    """Scores share the ALERTS stream (and its consumers) with the violations, under their own
    subject: ``alerts.scores.<org_id>`` (no severity is called "scores")."""
    return f"alerts.scores.{org_id}"


# The evaluator publishes a flush's alerts and scores together, in ``AlertBatch`` messages on this
# subject (no severity is called "batch"), rather than one message each.
ALERT_BATCH_SUBJECT = "alerts.batch"


def deadletter_subject(source: str) -> str:
    return f"deadletter.{source}"


def message_id(*parts: object) -> str:
    """Deterministic ``Nats-Msg-Id``: a re-published batch is dropped by JetStream dedup."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


# A page event the push receiver made from one platform notification carries one post or comment,
# not the page's wall or comments as read: its ``sweep_id`` starts with this.
PUSH_SWEEP_PREFIX = "push:"


def is_pushed(event: PageEvent) -> bool:
    """A pushed one-item event: its content is partial, so no rule reads it as the whole page."""
    return event.sweep_id.startswith(PUSH_SWEEP_PREFIX)


def utcnow() -> datetime:
    return datetime.now(UTC)


# Counters and codes are stored as ClickHouse Int64: a larger number (a garbled or hostile answer
# saying likes = 2**63) is refused here, where the collector can call the answer malformed, rather
# than at the insert, where it would fail the whole batch.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


# --- Vocabulary --------------------------------------------------------------------------------


class Platform(StrEnum):
    VK = "vk"
    OK = "ok"
    TG = "tg"
    MAX = "max"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    # A deadline not yet missed (UNANSWERED_COMMENT_SOON): not a violation, routed like any other.
    WARNING = "warning"
    INFO = "info"


class Unavailability(StrEnum):
    DELETED = "deleted"
    BANNED = "banned"
    NOT_FOUND = "not_found"
    PRIVATE = "private"
    API_ERROR = "api_error"
    # MAX: the register's channel is not among the chats of the monitoring bot (the body has not
    # added it, or removed it): nothing is known about the channel itself.
    NOT_CONNECTED = "not_connected"


# Reasons that mean "there is no live page"; PRIVATE is a closed page that still exists, and an
# API_ERROR says nothing about the page at all.
PAGE_GONE = frozenset({Unavailability.DELETED, Unavailability.BANNED, Unavailability.NOT_FOUND})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PageRef(_Model):
    """A page as the registry knows it: ``native_id`` is a numeric id or a screen name."""

    platform: Platform
    native_id: str = Field(min_length=1, max_length=200)
    org_id: str = Field(min_length=1, max_length=32)

    @property
    def key(self) -> str:
        return f"{self.platform.value}:{self.native_id}"


class Organisation(_Model):
    """One row of a regional register, validated."""

    org_id: str = Field(min_length=13, max_length=15, pattern=r"^[0-9]+$")
    name: str = Field(min_length=1, max_length=1000)
    level: str = Field(max_length=64)
    founder: str = Field(max_length=1000)
    municipality: str = Field(max_length=200)
    sphere: str = Field(max_length=64)
    exempt: bool = False
    pages: tuple[PageRef, ...] = ()
    # Connected to the «Госпаблики» component of Госуслуги (the register's ``gospubliki`` column:
    # no platform API shows it). None: the register does not say.
    gospubliki: bool | None = None

    def page(self, platform: Platform) -> PageRef | None:
        return next((p for p in self.pages if p.platform == platform), None)


_M = TypeVar("_M", bound=BaseModel)


def built(cls: type[_M], **values: Any) -> _M:
    """``cls.model_construct(**values)`` for values that are already valid and name every field.

    A first national sweep builds over a million alert events and labels from validated data;
    ``model_construct`` walks the fields one by one for each and costs five times this.
    """
    fields = _FIELD_NAMES.get(cls)
    if fields is None:
        fields = _FIELD_NAMES[cls] = frozenset(cls.model_fields)
    if values.keys() != fields:
        raise TypeError(f"{cls.__name__} needs exactly {sorted(fields)}, got {sorted(values)}")
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


_FIELD_NAMES: dict[type, frozenset[str]] = {}


# --- Events ------------------------------------------------------------------------------------


class Event(_Model):
    """Common envelope. Subclasses set ``NAME`` and ``VERSION`` and a payload of their own.

    ``OLDEST_VERSION`` is the oldest version this build still reads: a version that only added
    optional fields is read from older messages too, which get the new fields' defaults and the
    current schema name (see ``decode``).
    """

    NAME: ClassVar[str]
    VERSION: ClassVar[int] = 1
    OLDEST_VERSION: ClassVar[int] = 1

    schema_: str = Field(alias="schema")
    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=64)
    observed_at: AwareDatetime

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @classmethod
    def schema_id(cls) -> str:
        return f"{cls.NAME}/{cls.VERSION}"

    @classmethod
    def create(cls, **fields: Any):
        return cls(schema=cls.schema_id(), **fields)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class PageEvent(Event):
    platform: Platform
    page_ref: PageRef
    sweep_id: str = Field(max_length=64)


# What a snapshot may not show (``PageSnapshot.unknown``): the answer did not carry the field, so
# an empty value there is "not known", not "empty". "phones" and "emails" are listed when a source
# of them (contacts, the address block) was not shown, even if other sources gave some.
SNAPSHOT_FACTS = ("description", "site", "links", "phones", "emails", "address")


# The kinds of Госуслуги feedback widget a page may carry in its menu (links to pos.gosuslugi.ru,
# the platform «Обратная связь»): "problem" is «Сообщить о проблеме» (``/form/?opaId=…``),
# "opinion" is «Высказать мнение» (``/og/org-activities?…``: the body's polls and votes), "other"
# is another link there.
WidgetKind = Literal["problem", "opinion", "other"]
FEEDBACK_WIDGETS: tuple[str, ...] = ("problem", "opinion")


class Widget(_Model):
    """A Госуслуги feedback widget in a page's menu, with the tracking parameters of its link.

    The parameters are as the link carries them (empty when absent): ``region_code`` (``utm_medium``
    or ``reg_code``), ``municipality_code`` (``mun_code``, the 8-digit ОКТМО), ``ogrn``
    (``utm_campaign``, the 13-digit ОГРН of the body the widget reports to) and ``source``
    (``utm_source``: vk, vk1 regional, vk2 municipal).
    """

    kind: WidgetKind
    title: str = Field(default="", max_length=2000)
    url: str = Field(max_length=2000)
    region_code: str = Field(default="", max_length=64)
    municipality_code: str = Field(default="", max_length=64)
    ogrn: str = Field(default="", max_length=64)
    source: str = Field(default="", max_length=64)


class PageSnapshot(PageEvent):
    """A page's profile as the platform returned it, normalised across platforms.

    Version 2 added ``unknown`` and ``has_address``; a version 1 message reads as one that showed
    every field (what version 1 producers assumed). Version 3 added ``widgets``; an older message
    reads as one whose menu is unknown (None).
    """

    NAME: ClassVar[str] = "PageSnapshot"
    VERSION: ClassVar[int] = 3

    page_id: str = Field(max_length=64)
    screen_name: str = Field(default="", max_length=200)
    name: str = Field(max_length=2000)
    description: str = Field(default="", max_length=100_000)
    site: str = Field(default="", max_length=2000)
    links: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    address: str = Field(default="", max_length=2000)
    # An address the page shows without its text (VK's ``addresses`` with ``main_address_id`` but
    # no ``main_address``): True although ``address`` is empty. None: as ``address`` says.
    has_address: bool | None = None
    members: Int64 | None = None
    is_closed: Int64 = 0
    is_government_organization: bool | None = None
    verified: bool = False
    wall: Int64 | None = None  # VK: 0 off, 1 open, 2 limited, 3 closed
    has_photo: bool | None = None
    has_cover: bool | None = None
    # Names from ``SNAPSHOT_FACTS`` the answer did not show (fields not requested or not returned).
    unknown: tuple[Literal[SNAPSHOT_FACTS], ...] = ()
    # The Госуслуги widgets of the page's menu (VK ``menu``): () a menu with none of them; None
    # not known (the menu was not requested, or the platform does not show one).
    widgets: tuple[Widget, ...] | None = Field(default=None, max_length=100)


class Post(_Model):
    post_id: str = Field(max_length=64)
    posted_at: AwareDatetime
    from_id: str = Field(default="", max_length=64)
    is_own: bool
    is_repost: bool
    is_pinned: bool = False
    comments_count: Int64 = 0
    comments_open: bool = True
    likes: Int64 = 0
    reposts: Int64 = 0
    views: Int64 | None = None
    text: str = Field(default="", max_length=100_000)
    links: tuple[str, ...] = ()


class PostsObserved(PageEvent):
    """One page's most recent posts in one message (a batch, not one post)."""

    NAME: ClassVar[str] = "PostsObserved"

    page_id: str = Field(max_length=64)
    total_count: Int64 | None = None
    posts: tuple[Post, ...] = ()


class Comment(_Model):
    comment_id: str
    post_id: str
    from_id: str
    author_kind: Literal["citizen", "page"]
    reply_to: str | None = None
    posted_at: AwareDatetime
    text: str = Field(default="", max_length=100_000)
    # The top-level comment whose thread holds this reply (VK ``parents_stack``); None: top level.
    thread_id: str | None = None
    # Whom the comment addresses: VK's ``reply_to_user`` and ``[id123|…]`` mentions in the text
    # (a community as its negative id). A page answers in a top-level comment that names the
    # citizen as often as in the thread.
    addressees: tuple[str, ...] = Field(default=(), max_length=100)


class CommentsObserved(PageEvent):
    """One page's comments on its recent posts, with what the data does not hold.

    Version 2 added ``thread_id``, ``addressees`` and the lists below; a version 1 message
    reads as one that showed every thread and every comment, on the page's own posts.
    """

    NAME: ClassVar[str] = "CommentsObserved"
    VERSION: ClassVar[int] = 2

    page_id: str = Field(max_length=64)
    comments: tuple[Comment, ...] = ()
    # Commented posts not written by the page (a citizen's post on an open wall): the comments
    # under them are citizens talking to each other, not requests to the page.
    citizen_posts: tuple[str, ...] = ()
    # Threads (top-level comment ids) whose replies were not all read (not loaded, or the read
    # was capped), and posts whose top-level comments were not all read (or holding such a
    # thread under a deleted comment): an answer may sit in the part not read, so a comment
    # there without a visible answer is not evaluable.
    partial_threads: tuple[str, ...] = ()
    partial_posts: tuple[str, ...] = ()
    # Commented posts whose author the data does not show (``check`` given comments on a post its
    # wall does not hold): a comment there without a visible answer is not evaluable either.
    unknown_posts: tuple[str, ...] = ()


class PageUnavailable(PageEvent):
    """The platform would not show the page: gone, closed, or the API call itself failed."""

    NAME: ClassVar[str] = "PageUnavailable"

    reason: Unavailability
    error_code: int | None = None
    detail: str = Field(default="", max_length=2000)


class OrganisationsRegistered(Event):
    """A chunk of an imported register (the evaluator keeps organisations in ClickHouse).

    Version 2 added ``Organisation.gospubliki``; a version 1 message reads as one whose register
    did not say (None).
    """

    NAME: ClassVar[str] = "OrganisationsRegistered"
    VERSION: ClassVar[int] = 2

    registry_version: str = Field(max_length=64)
    region: str = Field(max_length=64)
    chunk: int
    chunks: int
    organisations: tuple[Organisation, ...]


class CollectTask(Event):
    """Work for one collector: a chunk of pages of one platform in one sweep.

    ``partition`` (version 2) is the EVENTS partition of the swept region's organisations, the
    subject the page events go to; version 1 is read with none (the partition of no known region).
    """

    NAME: ClassVar[str] = "CollectTask"
    VERSION: ClassVar[int] = 2
    OLDEST_VERSION: ClassVar[int] = 1

    sweep_id: str = Field(max_length=64)
    platform: Platform
    pages: tuple[PageRef, ...]
    partition: int | None = Field(default=None, ge=0, lt=EVENT_PARTITIONS)


class OrgLabels(_Model):
    """The organisation's part of ``AlertLabels``: what a subscription matches scores by."""

    org_id: str
    org_name: str
    founder: str
    municipality: str
    sphere: str
    level: str


class AlertLabels(OrgLabels):
    platform: str
    page_id: str
    page_url: str
    rule: str
    severity: Severity


class ViolationOpened(Event):
    NAME: ClassVar[str] = "ViolationOpened"

    violation_id: str
    labels: AlertLabels
    summary: str = Field(max_length=5000)
    basis: str = Field(default="", max_length=2000)
    value: str = Field(default="", max_length=500)
    threshold: str = Field(default="", max_length=500)
    opened_at: AwareDatetime


class ViolationResolved(Event):
    NAME: ClassVar[str] = "ViolationResolved"

    violation_id: str
    labels: AlertLabels
    summary: str = Field(max_length=5000)
    opened_at: AwareDatetime
    resolved_at: AwareDatetime


# Score components, each 0..100: "Оформление", "Частотность", "Вовлеченность", "Отклик" (the mean
# over the organisation's pages that have one) and the organisation's overall compliance.
ScoreComponent = Literal["design", "frequency", "engagement", "response", "compliance"]
SCORE_COMPONENTS: tuple[str, ...] = get_args(ScoreComponent)
ScoreValue = Annotated[float, Field(ge=0, le=100)]


class OrgScorecard(_Model):
    """An organisation's card of the regional centre's scorecard (profile section ``scorecard:``):
    its total out of the weights' sum, its colour and the weights' version."""

    total: float = Field(ge=0)
    out_of: float = Field(gt=0)
    colour: Literal["green", "yellow", "red"]
    version: int = Field(ge=1)


class ScoresUpdated(Event):
    """An organisation's scores after a change (rounded to 0.1), with its labels for routing.

    ``scores`` holds the components known for it; a component it lacks has no data yet (no
    comments, say). ``scored_at`` is the observation time of the newest score in it.
    ``scorecard`` (version 2, optional: version 1 is read with none) is its scorecard card when the
    profile has one.
    """

    NAME: ClassVar[str] = "ScoresUpdated"
    VERSION: ClassVar[int] = 2
    OLDEST_VERSION: ClassVar[int] = 1

    labels: OrgLabels
    scores: dict[ScoreComponent, ScoreValue]
    scored_at: AwareDatetime
    scorecard: OrgScorecard | None = None


def _batch_item_tag(item: Any) -> str | None:
    """An ``AlertBatch`` item is told by its ``schema``: exactly one of the versions below."""
    if isinstance(item, dict):
        schema = item.get("schema")
        return schema if isinstance(schema, str) else None
    return getattr(item, "schema_", None)


AlertBatchItem = Annotated[
    Annotated[ViolationOpened, Tag(ViolationOpened.schema_id())]
    | Annotated[ViolationResolved, Tag(ViolationResolved.schema_id())]
    | Annotated[ScoresUpdated, Tag(ScoresUpdated.schema_id())],
    Discriminator(
        _batch_item_tag,
        custom_error_type="batch_item",
        custom_error_message="not an item an AlertBatch/1 carries (ViolationOpened/1, "
        "ViolationResolved/1, ScoresUpdated/2)",
    ),
]
# A batch's bounds: a flush of thousands of alerts goes out in several messages, each well under
# MAX_EVENT_BYTES (an item is a few hundred bytes to a few kB).
ALERT_BATCH_MAX_ITEMS = 500
ALERT_BATCH_MAX_BYTES = 256 * 1024


class AlertBatch(Event):
    """Alert events and scores published together: a consumer takes each item as if it had
    arrived in a message of its own, in this order (so a violation opened and resolved in one
    flush ends resolved).

    The items are of the versions named in ``AlertBatchItem``; a newer version of one of them comes
    with a new version of the batch. The ``event_id`` is a hash of the items' ids, so the same
    items make the same message (JetStream drops it by ``Nats-Msg-Id``), and ``observed_at`` is the
    newest item's. Built by ``alert_batches``.
    """

    NAME: ClassVar[str] = "AlertBatch"

    items: tuple[AlertBatchItem, ...] = Field(default=(), max_length=ALERT_BATCH_MAX_ITEMS)


def alert_batches(
    events: Sequence[ViolationOpened | ViolationResolved | ScoresUpdated],
    *,
    max_items: int = ALERT_BATCH_MAX_ITEMS,
    max_bytes: int = ALERT_BATCH_MAX_BYTES,
) -> list[tuple[str, bytes]]:
    """``events`` in order, as ``AlertBatch`` messages of at most ``max_items`` items and about
    ``max_bytes`` (an item larger than that alone goes in a batch of its own): (event_id, JSON).

    Each item is serialised once and the batch's JSON put together around them, exactly as
    ``AlertBatch.to_bytes`` would write it.
    """
    out: list[tuple[str, bytes]] = []
    chunk: list[ViolationOpened | ViolationResolved | ScoresUpdated] = []
    parts: list[bytes] = []
    size = 0
    for event in events:
        part = event.to_bytes()
        if chunk and (len(chunk) >= max_items or size + len(part) + 1 > max_bytes):
            out.append(_alert_batch(chunk, parts))
            chunk, parts, size = [], [], 0
        chunk.append(event)
        parts.append(part)
        size += len(part) + 1
    if chunk:
        out.append(_alert_batch(chunk, parts))
    return out


def _alert_batch(
    items: list[ViolationOpened | ViolationResolved | ScoresUpdated], parts: list[bytes]
) -> tuple[str, bytes]:
    event_id = message_id(AlertBatch.schema_id(), *(item.event_id for item in items))
    empty = built(
        AlertBatch,
        schema_=AlertBatch.schema_id(),
        event_id=event_id,
        observed_at=max(item.observed_at for item in items),
        items=(),
    ).to_bytes()
    tail = b'"items":[]}'
    if not empty.endswith(tail):  # pragma: no cover - the field order of the model above
        raise AssertionError("AlertBatch serialises with items last")
    return event_id, empty[: -len(tail)] + b'"items":[' + b",".join(parts) + b"]}"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.NAME: cls
    for cls in (
        PageSnapshot,
        PostsObserved,
        CommentsObserved,
        PageUnavailable,
        OrganisationsRegistered,
        CollectTask,
        ViolationOpened,
        ViolationResolved,
        ScoresUpdated,
        AlertBatch,
    )
}


class ContractError(ValueError):
    """A message that is not a valid event of a known schema; ``reason`` goes to the dead letter.

    ``kind`` is one of ``REJECTION_KINDS``: a short, bounded label for counting rejections (the
    reason itself carries input text and would make an unbounded metric label).
    """

    def __init__(self, reason: str, kind: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


REJECTION_KINDS = (
    "too_large",
    "not_json",
    "not_object",
    "no_schema",
    "unknown_schema",
    "unsupported_version",
    "invalid",
    "wrong_type",
)


# What every producer here writes first: ``{"schema":"Name/1",``. Matching it lets a valid message be
# parsed and validated in one pass by pydantic-core; anything else takes the careful path below.
_SCHEMA_PREFIX = re.compile(rb'\A\s*\{\s*"schema"\s*:\s*"([A-Za-z]{1,64})/([0-9]{1,9})"')


# json reads "\ud800" (and, from bytes, its CESU-8 form) as a lone surrogate, which no UTF-8 text can
# carry: an event holding one could be decoded but never encoded, stored or published again.
_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _holds_a_lone_surrogate(value: object) -> bool:
    todo = [value]
    while todo:  # a loop, not recursion: the value may nest as deep as json could read
        item = todo.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            todo.extend(item)
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return False


def decode(data: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> Event:
    """Parse and validate one message; raise ``ContractError`` with a readable reason."""
    if len(data) > max_bytes:
        raise ContractError(
            f"payload of {len(data)} bytes exceeds the limit of {max_bytes}", "too_large"
        )
    head = _SCHEMA_PREFIX.match(data)
    if head is not None:
        cls = EVENT_TYPES.get(head[1].decode())
        if cls is not None and int(head[2]) == cls.VERSION:
            try:
                event = cls.model_validate_json(data)
            except ValidationError:
                pass  # the careful path names the problem the same way for every input
            else:
                # A repeated "schema" key: JSON keeps the last one, so let the careful path judge.
                if event.schema_ == cls.schema_id():
                    return event
    return _decode_carefully(data)


def _decode_carefully(data: bytes) -> Event:
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"not JSON: {exc}", "not_json") from None
    except (ValueError, RecursionError) as exc:  # a number of over 4,300 digits; deep nesting
        raise ContractError(f"not JSON this build reads: {exc}", "not_json") from None
    if _SURROGATE_HINT.search(data) and _holds_a_lone_surrogate(raw):
        raise ContractError("not JSON: a string holds a lone UTF-16 surrogate", "not_json")
    if not isinstance(raw, dict):
        raise ContractError(f"not a JSON object but {type(raw).__name__}", "not_object")
    schema = raw.get("schema")
    if not isinstance(schema, str) or "/" not in schema:
        raise ContractError(f"missing or malformed 'schema' field: {schema!r:.80}", "no_schema")
    name, _, version_text = schema.partition("/")
    cls = EVENT_TYPES.get(name)
    if cls is None:
        raise ContractError(f"unknown schema {name!r:.80}", "unknown_schema")
    if not (version_text.isascii() and version_text.isdigit() and len(version_text) <= 9):
        raise ContractError(f"malformed schema version {version_text!r:.20}", "no_schema")
    version = int(version_text)
    if not cls.OLDEST_VERSION <= version <= cls.VERSION:
        oldest = f"{cls.NAME}/{cls.OLDEST_VERSION}–" if cls.OLDEST_VERSION < cls.VERSION else ""
        raise ContractError(
            f"unsupported version {schema!r:.80}: this build reads {oldest}{cls.schema_id()}",
            "unsupported_version",
        )
    if version != cls.VERSION:
        # An older version lacks only optional fields: read it as the current one, with defaults.
        raw["schema"] = cls.schema_id()
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ContractError(
            f"invalid {schema}: {where}: {first['msg']} ({exc.error_count()} error(s))"
        ) from None

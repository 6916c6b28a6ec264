"""The notifier's decoder: ``contracts.decode`` with a faster path for what ALERTS carries.

A national sweep puts hundreds of thousands of alerts and scores on ALERTS, most of them in
``AlertBatch`` messages of a few hundred items. Validating an item with pydantic costs several
times as much as decoding it with msgspec into the mirror structs below and building the pydantic
model from the result unvalidated (``contracts.built``), with the label values and the texts that
repeat per rule interned on the way (what ``compact`` would do to it later anyway).

The mirror is at least as strict as the pydantic schema, never looser: msgspec accepts no coercions
(an int as ``1.0``, a missing ``event_id`` that pydantic would generate), and anything it refuses
goes to ``contracts.decode``, which accepts or rejects it with its usual reason. Where the two
parsers would read the same text differently (fractions of a second beyond microseconds; a repeated
``"schema"`` key; an escaped lone surrogate), the message takes the pydantic path too. So the fast
path changes how long a valid message takes, never whether a message is valid or what it says;
``tests/unit/test_notifier_fastdecode.py`` checks both paths against each other.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from gospublic import contracts as c

from .compact import built

_Aware = Annotated[datetime, Meta(tz=True)]
# A time with more than six digits of a second's fraction: the parsers round it differently. (It
# may match elsewhere too, in a text: that message merely takes the slower path.)
# An escaped UTF-16 surrogate or its CESU-8 bytes: ``contracts.decode`` judges those too.
_CAREFUL = re.compile(rb"\.\d{7}|\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SCHEMA_KEY = b'"schema":'


def _text(max_length: int) -> type:
    return Annotated[str, Meta(max_length=max_length)]


_Score = Annotated[float, Meta(ge=0, le=100)]
_STRUCT = {"forbid_unknown_fields": True, "frozen": True, "kw_only": True}


class OrgLabelsRecord(Struct, **_STRUCT):
    org_id: str
    org_name: str
    founder: str
    municipality: str
    sphere: str
    level: str


class AlertLabelsRecord(OrgLabelsRecord, **_STRUCT):
    platform: str
    page_id: str
    page_url: str
    rule: str
    severity: c.Severity


class OrgScorecardRecord(Struct, **_STRUCT):
    total: Annotated[float, Meta(ge=0)]
    out_of: Annotated[float, Meta(gt=0)]
    colour: Literal["green", "yellow", "red"]
    version: Annotated[int, Meta(ge=1)]


# ``event_id`` has a generated default in the models; here it is required (the producers always
# send it), so a message without one takes the pydantic path and gets its default.
class ViolationOpenedRecord(
    Struct, tag_field="schema", tag=c.ViolationOpened.schema_id(), **_STRUCT
):
    event_id: _text(64)
    observed_at: _Aware
    violation_id: str
    labels: AlertLabelsRecord
    summary: _text(5000)
    basis: _text(2000) = ""
    value: _text(500) = ""
    threshold: _text(500) = ""
    opened_at: _Aware


class ViolationResolvedRecord(
    Struct, tag_field="schema", tag=c.ViolationResolved.schema_id(), **_STRUCT
):
    event_id: _text(64)
    observed_at: _Aware
    violation_id: str
    labels: AlertLabelsRecord
    summary: _text(5000)
    opened_at: _Aware
    resolved_at: _Aware


class ScoresUpdatedRecord(Struct, tag_field="schema", tag=c.ScoresUpdated.schema_id(), **_STRUCT):
    event_id: _text(64)
    observed_at: _Aware
    labels: OrgLabelsRecord
    scores: dict[c.ScoreComponent, _Score]
    scored_at: _Aware
    scorecard: OrgScorecardRecord | None = None


_Item = ViolationOpenedRecord | ViolationResolvedRecord | ScoresUpdatedRecord


class AlertBatchRecord(Struct, tag_field="schema", tag=c.AlertBatch.schema_id(), **_STRUCT):
    event_id: _text(64)
    observed_at: _Aware
    items: Annotated[tuple[_Item, ...], Meta(max_length=c.ALERT_BATCH_MAX_ITEMS)] = ()


_DECODER = msgspec.json.Decoder(AlertBatchRecord | _Item)
_TOP_SCHEMAS = tuple(
    b'{"schema":"' + cls.schema_id().encode() + b'"'
    for cls in (c.AlertBatch, c.ViolationOpened, c.ViolationResolved, c.ScoresUpdated)
)

AlertItem = c.ViolationOpened | c.ViolationResolved | c.ScoresUpdated


def decode(data: bytes, *, max_bytes: int = c.MAX_EVENT_BYTES) -> c.Event:
    """``contracts.decode``, faster for a well-formed ``AlertBatch`` and its items."""
    if len(data) <= max_bytes and data.startswith(_TOP_SCHEMAS) and not _CAREFUL.search(data):
        try:
            record = _DECODER.decode(data)
        except ValueError:  # msgspec.DecodeError, or UnicodeDecodeError on bad UTF-8
            pass
        else:
            items = record.items if isinstance(record, AlertBatchRecord) else ()
            # One "schema" key per object, as the producers write it: a repeated key is read
            # differently by the two parsers, so it is judged by the careful one.
            if data.count(_SCHEMA_KEY) == 1 + len(items):
                if isinstance(record, AlertBatchRecord):
                    return c.built(
                        c.AlertBatch,
                        schema_=c.AlertBatch.schema_id(),
                        event_id=record.event_id,
                        observed_at=record.observed_at,
                        items=tuple(map(_item, items)),
                    )
                return _item(record)
    return c.decode(data, max_bytes=max_bytes)


_intern = sys.intern


def _org_labels(labels: OrgLabelsRecord) -> dict[str, str]:
    return {
        "org_id": _intern(labels.org_id),
        "org_name": _intern(labels.org_name),
        "founder": _intern(labels.founder),
        "municipality": _intern(labels.municipality),
        "sphere": _intern(labels.sphere),
        "level": _intern(labels.level),
    }


def _alert_labels(labels: AlertLabelsRecord) -> c.AlertLabels:
    values = _org_labels(labels)
    values["platform"] = _intern(labels.platform)
    values["page_id"] = _intern(labels.page_id)
    values["page_url"] = _intern(labels.page_url)
    values["rule"] = _intern(labels.rule)
    values["severity"] = labels.severity
    return built(c.AlertLabels, values)


def _item(record: _Item) -> AlertItem:
    if type(record) is ViolationOpenedRecord:
        return built(
            c.ViolationOpened,
            {
                "schema_": _OPENED,
                "event_id": record.event_id,
                "observed_at": record.observed_at,
                "violation_id": record.violation_id,
                "labels": _alert_labels(record.labels),
                "summary": _intern(record.summary),
                "basis": _intern(record.basis),
                "value": record.value,
                "threshold": _intern(record.threshold),
                "opened_at": record.opened_at,
            },
        )
    if type(record) is ViolationResolvedRecord:
        return built(
            c.ViolationResolved,
            {
                "schema_": _RESOLVED,
                "event_id": record.event_id,
                "observed_at": record.observed_at,
                "violation_id": record.violation_id,
                "labels": _alert_labels(record.labels),
                "summary": _intern(record.summary),
                "opened_at": record.opened_at,
                "resolved_at": record.resolved_at,
            },
        )
    card = record.scorecard
    scorecard = None
    if card is not None:
        scorecard = c.built(
            c.OrgScorecard,
            total=card.total,
            out_of=card.out_of,
            colour=card.colour,
            version=card.version,
        )
    return built(
        c.ScoresUpdated,
        {
            "schema_": _SCORES,
            "event_id": record.event_id,
            "observed_at": record.observed_at,
            "labels": built(c.OrgLabels, _org_labels(record.labels)),
            "scores": dict(record.scores),
            "scored_at": record.scored_at,
            "scorecard": scorecard,
        },
    )


_OPENED = _intern(c.ViolationOpened.schema_id())
_RESOLVED = _intern(c.ViolationResolved.schema_id())
_SCORES = _intern(c.ScoresUpdated.schema_id())

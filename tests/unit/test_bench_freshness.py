"""The freshness bench's pure parts: percentiles, the round-robin rotation, reading an e-mail's
subject, and the delays and warnings computed from the changes and the e-mails' moments."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/ is not a package
from bench.freshness import (
    DAY,
    HOUR,
    Arrival,
    arrivals_from_files,
    delays,
    epoch_before,
    percentile,
    policy_overrides,
    read_arrival,
    round_robin_slice,
    targets,
    tick_starts,
)
from services.notifier.email import set_subject
from services.simulator.regional.changes import Change

T = 1_800_000_000  # a moment, unix seconds


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([], 0.5, None),
        ([3.0], 0.95, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
        ([4.0, 1.0, 3.0, 2.0], 0.95, 4.0),
        (list(range(1, 101)), 0.95, 95),
        ([1.0, math.inf], 0.5, 1.0),
        ([1.0, math.inf], 0.95, math.inf),  # an undetected change is later than any
    ],
)
def test_percentile_is_the_nearest_rank(values, share, expected) -> None:
    assert percentile(values, share) == expected


@pytest.mark.parametrize(("pages", "ticks_per_day"), [(10, 4), (7, 48), (100, 48), (48, 48)])
def test_round_robin_reads_every_page_once_a_day_in_equal_slices(pages, ticks_per_day) -> None:
    register = list(range(pages))
    day = [round_robin_slice(register, tick, ticks_per_day) for tick in range(ticks_per_day)]
    assert sorted(p for s in day for p in s) == register  # each page exactly once a day
    assert max(map(len, day)) - min(map(len, day)) <= 1  # spread evenly over the ticks
    # The next day repeats the rotation: the same slice at the same tick.
    assert round_robin_slice(register, ticks_per_day + 3, ticks_per_day) == day[3]


def mail_bytes(subject: str) -> bytes:
    message = EmailMessage()
    set_subject(message, subject)
    message["From"] = "a@b.ru"
    message.set_content("x")
    return bytes(message)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (
            "[GosPublic] 150021947 / UNANSWERED_COMMENT: 1 нарушение (1 новое)",
            Arrival("150021947", "UNANSWERED_COMMENT", T),
        ),
        (
            "[GosPublic] minstroy_2b9 / PAGE_NOT_PUBLIC: 2 нарушения (1 новое, 1 устранено)",
            Arrival("minstroy_2b9", "PAGE_NOT_PUBLIC", T),
        ),
        ("[GosPublic] 150021947 / STALE: 1 нарушение (напоминание)", None),
        ("[GosPublic] 150021947 / STALE: все нарушения устранены (1)", None),
    ],
)
def test_an_e_mail_names_its_page_and_rule_in_the_subject(subject, expected) -> None:
    assert read_arrival(mail_bytes(subject), T) == expected


def change(kind: str, at: int, page: str = "1", rules=("STALE",), comment_at: int = 0) -> Change:
    return Change(kind, page, "o", tuple(rules), at, f"https://vk.com/club{page}", comment_at)


def test_the_delay_is_from_the_change_to_the_first_e_mail_after_it() -> None:
    changes = [
        change("page_stale", T, "1"),
        change("page_stale", T, "2"),
        change("page_stale", T, "3"),  # never announced
        change("page_gone", T, "4", ("PAGE_NOT_PUBLIC",)),
        change("page_stale", T + 10 * HOUR, "5"),  # after the measured span
    ]
    arrivals = [
        Arrival("1", "STALE", T - HOUR),  # an older violation of the page: not this change
        Arrival("1", "STALE", T + 2 * HOUR),
        Arrival("1", "STALE", T + 5 * HOUR),
        Arrival("club2", "STALE", T + 4 * HOUR),  # named by the register link's last part
        Arrival("4", "PAGE_NOT_PUBLIC", T + HOUR / 2),
        Arrival("5", "STALE", T + 11 * HOUR),
    ]
    out = delays(changes, arrivals, T + 5 * HOUR, 24 * HOUR)
    stale = out["page_stale"]
    assert (stale["changes"], stale["detected"]) == (3, 2)
    assert stale["p50_h"] == 4.0
    assert stale["p95_h"] is None  # the undetected one: later than any
    assert stale["max_detected_h"] == 4.0
    assert out["page_gone"] == {
        "changes": 1,
        "detected": 1,
        "p50_h": 0.5,
        "p95_h": 0.5,
        "max_detected_h": 0.5,
    }
    assert out["unanswered_comment"]["changes"] == 0


def test_a_breach_was_warned_when_the_warning_came_4_hours_before_the_deadline() -> None:
    sla = 24 * HOUR
    written = T - sla  # each comment's deadline is T
    breaches = [
        change("unanswered_comment", T + 1, str(n), ("UNANSWERED_COMMENT",), written)
        for n in range(4)
    ]
    arrivals = [Arrival(str(n), "UNANSWERED_COMMENT", T + HOUR) for n in range(4)] + [
        Arrival("0", "UNANSWERED_COMMENT_SOON", T - 6 * HOUR),  # warned 6 h ahead
        Arrival("1", "UNANSWERED_COMMENT_SOON", T - 4 * HOUR),  # exactly 4 h ahead
        Arrival("2", "UNANSWERED_COMMENT_SOON", T - 3 * HOUR),  # too late
        Arrival("3", "UNANSWERED_COMMENT_SOON", written - HOUR),  # before the comment: another
    ]
    out = delays(breaches, arrivals, T + 2, sla)
    assert out["sla_breaches_warned_4h"] == {
        "breaches": 4,
        "warned": 2,
        "share": 0.5,
        "breaches_warning_due_in_week": 4,
        "warned_of_those": 2,
        "share_of_those": 0.5,
    }
    assert out["unanswered_comment"]["p95_h"] == 1.0


def test_the_epoch_is_half_an_hour_before_a_moscow_midnight() -> None:
    assert epoch_before(datetime(2026, 12, 6, 23, 17, tzinfo=UTC)) == datetime(
        2026, 12, 6, 20, 30, tzinfo=UTC
    )
    assert epoch_before(datetime(2026, 12, 6, 9, 0, tzinfo=UTC)) == datetime(
        2026, 12, 5, 20, 30, tzinfo=UTC
    )


def test_only_breaches_whose_warning_fell_due_in_the_week_count_in_the_second_share() -> None:
    sla = 24 * HOUR
    start = T - 5 * HOUR  # the week began 5 h before the first deadline
    early = change("unanswered_comment", T + 1, "1", ("UNANSWERED_COMMENT",), T - sla)
    late = change("unanswered_comment", T + 20 * HOUR, "2", ("UNANSWERED_COMMENT",), T - 4 * HOUR)
    arrivals = [Arrival("2", "UNANSWERED_COMMENT_SOON", T + 14 * HOUR)]
    out = delays([early, late], arrivals, T + DAY, sla, since=start)["sla_breaches_warned_4h"]
    assert (out["breaches"], out["warned"], out["share"]) == (2, 1, 0.5)
    # The first one's warning fell due an hour before the week began (its band was open).
    assert (out["breaches_warning_due_in_week"], out["warned_of_those"]) == (1, 1)
    assert out["share_of_those"] == 1.0


@pytest.mark.parametrize(
    ("adaptive_p95", "round_robin_p95", "share_of_those", "expected"),
    [
        (1.5, 20.0, 0.9, (True, True, True)),
        (2.5, 20.0, 0.95, (False, True, True)),
        (1.5, 2.5, 0.89, (True, False, False)),
        (None, 20.0, None, (False, False, False)),  # more than 5 % never announced
        (1.5, None, 0.9, (True, True, True)),  # round robin missed more than 5 %
    ],
)
def test_the_targets(adaptive_p95, round_robin_p95, share_of_those, expected) -> None:
    def mode(p95, share):
        warned = {"share": 0.1, "share_of_those": share}  # the share of all does not count
        return {"unanswered_comment": {"p95_h": p95}, "sla_breaches_warned_4h": warned}

    out = targets(mode(adaptive_p95, share_of_those), mode(round_robin_p95, 0.0))
    assert tuple(out.values()) == expected


def test_a_stopped_run_is_read_back_from_its_e_mails_and_logs(tmp_path) -> None:
    """Each e-mail belongs to the latest tick whose collection began before it; an adaptive
    sweep's id is its simulated minute, a round robin's names its tick."""
    epoch = datetime(2026, 12, 6, 20, 30, tzinfo=UTC).timestamp()
    log = tmp_path / "collector-1.log"
    records = [
        ("2026-12-07T00:20:21.244Z", "20261206T2130Z"),
        ("2026-12-07T00:20:22.000Z", "20261206T2130Z"),  # the tick's second task
        ("2026-12-07T00:20:30.000Z", "rr-00002"),
    ]
    log.write_text(
        "\n".join(
            json.dumps({"msg": "task collected", "ts": ts, "sweep_id": sweep})
            for ts, sweep in records
        )
        + '\n{"msg": "collector started"}\n',
        encoding="utf-8",
    )
    starts = tick_starts(log, epoch, HOUR)
    assert [sim for _, sim in starts] == [epoch + HOUR, epoch + 2 * HOUR]
    mail = tmp_path / "mail"
    mail.mkdir()
    subject = "[GosPublic] 7 / STALE: 1 нарушение (1 новое)"
    (mail / "20261207T002020000000Z-1.eml").write_bytes(mail_bytes(subject))  # before any tick
    (mail / "20261207T002025000000Z-2.eml").write_bytes(mail_bytes(subject))
    (mail / "20261207T002031000000Z-3.eml").write_bytes(mail_bytes(subject))
    got = arrivals_from_files(mail, starts)
    assert got == [Arrival("7", "STALE", epoch + HOUR), Arrival("7", "STALE", epoch + 2 * HOUR)]


def test_policy_overrides_name_fields_of_the_polling_policy() -> None:
    assert policy_overrides(["quiet_interval_s=216000", "habit_gaps=4"]) == {
        "quiet_interval_s": 216000.0,
        "habit_gaps": 4.0,
    }
    with pytest.raises(ValueError, match="no field 'quiet'"):
        policy_overrides(["quiet=1"])

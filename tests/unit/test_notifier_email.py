"""E-mail rendering: Russian wording, multipart, stable Message-ID, and hostile content kept inert."""

from __future__ import annotations

import email
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gospublic.contracts import AlertLabels, ViolationOpened, ViolationResolved
from gospublic.settings import Settings
from services.notifier import email as mail
from services.notifier.nflog import Intent, decode_value, encode_intent
from services.notifier.pipeline import Notification, Pipeline
from services.notifier.subscriptions import parse_subscriptions

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
TOWN = "Борисоглебский городской округ"

SETTINGS = Settings(_env_file=None, mail_from="GosPublic Monitor <monitor@gospublic.local>")

ROUTE = {
    "name": "cur",
    "receivers": {"email": ["ops@cur.example.org"]},
    "group_by": ["municipality"],
    "group_wait": "0s",
    "group_interval": "1m",
}


def labels(org_name: str = "МБОУ СОШ №1", municipality: str = TOWN, **extra: str) -> AlertLabels:
    fields = {
        "org_id": "1023600000001",
        "org_name": org_name,
        "founder": "Отдел образования",
        "municipality": municipality,
        "sphere": "education",
        "level": "municipal",
        "platform": "vk",
        "page_id": "210000123",
        "page_url": "https://vk.com/club210000123",
        "rule": "DESCRIPTION_MISSING",
        "severity": "high",
    }
    fields.update(extra)
    return AlertLabels(**fields)


def opened(vid: str, summary: str = "Описание короче 50 знаков", **kw: str) -> ViolationOpened:
    return ViolationOpened.create(
        violation_id=vid, labels=labels(**kw), summary=summary, observed_at=T0, opened_at=T0
    )


def notify(*events, send_resolved: bool = True) -> Notification:
    p = Pipeline(parse_subscriptions({"routes": [{**ROUTE, "send_resolved": send_resolved}]}))
    for event in events:
        p.ingest(event, T0)
    [n] = p.due(T0)
    return n


def parse(message: EmailMessage) -> EmailMessage:
    return email.message_from_bytes(message.as_bytes(), policy=policy.default)  # type: ignore[return-value]


def parts(message: EmailMessage) -> tuple[str, str]:
    parsed = parse(message)
    text = parsed.get_body(("plain",)).get_content()
    html_body = parsed.get_body(("html",)).get_content()
    return text, html_body


def test_subject_counts_in_russian() -> None:
    p = Pipeline(parse_subscriptions({"routes": [ROUTE]}))
    for i in range(4):
        p.ingest(opened(f"v{i}"), T0)
    [first] = p.due(T0)
    p.mark_sent(first, T0)
    assert mail.subject(first) == f"[GosPublic] {TOWN}: 4 нарушения (4 новых)"
    for i in range(4, 7):
        p.ingest(opened(f"v{i}"), T0)
    [second] = p.due(T0 + timedelta(minutes=1))
    assert mail.subject(second) == f"[GosPublic] {TOWN}: 7 нарушений (3 новых)"


@pytest.mark.parametrize(
    ("n", "word"),
    [(1, "нарушение"), (2, "нарушения"), (5, "нарушений"), (11, "нарушений"), (21, "нарушение"),
     (22, "нарушения"), (112, "нарушений")],
)  # fmt: skip
def test_plural(n: int, word: str) -> None:
    assert mail.plural(n, "нарушение", "нарушения", "нарушений") == word


def test_message_structure_and_headers() -> None:
    n = notify(opened("a"), opened("b", rule="STALE", severity="critical"))
    now = T0 + timedelta(seconds=5)
    message = mail.render(n, SETTINGS, now)
    parsed = parse(message)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["From"] == "GosPublic Monitor <monitor@gospublic.local>"
    assert parsed["To"] == "ops@cur.example.org"
    assert parsed["Date"].datetime == now
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<[0-9a-f]{40}@gospublic>", parsed["Message-ID"])
    # The same notification rendered again (a retry) keeps its Message-ID.
    assert mail.render(n, SETTINGS, now + timedelta(hours=1))["Message-ID"] == parsed["Message-ID"]

    text, html_body = parts(message)
    assert "Давно нет собственных публикаций" in text and "Нет описания страницы" in text
    assert "Что исправить:" in text and "важность: критическая" in text
    assert '<a href="https://vk.com/club210000123">' in html_body
    # Critical before high.
    assert html_body.index("Давно нет") < html_body.index("Нет описания")
    assert "Что исправить" in html_body


def test_resolved_listed_separately() -> None:
    p = Pipeline(parse_subscriptions({"routes": [ROUTE]}))
    p.ingest(opened("a"), T0)
    p.ingest(opened("b", org_name="Гимназия №2"), T0)
    p.mark_sent(p.due(T0)[0], T0)
    p.ingest(
        ViolationResolved.create(
            violation_id="b",
            labels=labels(org_name="Гимназия №2"),
            summary="Описание заполнено",
            observed_at=T0,
            opened_at=T0,
            resolved_at=T0 + timedelta(seconds=30),
        ),
        T0 + timedelta(seconds=30),
    )
    [n] = p.due(T0 + timedelta(minutes=1))
    assert mail.subject(n) == f"[GosPublic] {TOWN}: 1 нарушение (1 устранено)"
    text, html_body = parts(mail.render(n, SETTINGS, T0))
    assert "Устранены: 1" in text and "Гимназия №2" in text.split("Устранены: 1")[1]
    assert "Устранены: 1" in html_body
    p.mark_sent(n, T0 + timedelta(minutes=1))


HOSTILE = {
    "html": '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;',
    "crlf": "Школа\r\nBcc: victim@example.org\r\nX-Injected: yes",
    "long": "Ш" * 10_000,
    "emoji": "Школа 🏫👩‍🏫 №1",
    "rtl": "Школа \u202egpj.exe\u202c и \u2067עברית\u2069",
    "nul": "Школа\x00\x1b[31m №1",
}


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_names_stay_inert(name: str) -> None:
    n = notify(
        opened(
            "a",
            org_name=name,
            municipality=name,
            summary=name[:5000],
            page_url='javascript:alert("x")',
            rule=name[:200],
        )
    )
    message = mail.render(n, SETTINGS, T0)
    raw = message.as_bytes()
    # Headers: nothing injected, every header line well formed, subject bounded.
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    names = [
        line.split(b":", 1)[0]
        for line in head.splitlines()
        if line and not line.startswith((b" ", b"\t"))
    ]
    assert b"Bcc" not in names and b"X-Injected" not in names
    assert sorted(names) == sorted(
        [b"Subject", b"From", b"To", b"Date", b"Message-ID", b"Auto-Submitted",
         b"Content-Type", b"MIME-Version"]
    )  # fmt: skip
    parsed = parse(message)
    subject = parsed["Subject"]
    assert "\r" not in subject and "\n" not in subject
    assert len(subject) <= mail.MAX_SUBJECT_CHARS
    assert "\u202e" not in subject and "\x00" not in subject

    text, html_body = parts(message)
    assert "<script>" not in html_body and "<img" not in html_body
    assert 'href="javascript' not in html_body
    for body in (text, html_body):
        assert "\u202e" not in body and "\x00" not in body and "\x1b" not in body
        assert "\r\nBcc:" not in body
    if name == HOSTILE["html"]:
        # Autoescaping (markupsafe) writes the quote as &#34;, the same character as &quot;.
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html_body
        assert "&amp;amp;" in html_body
    if name == HOSTILE["emoji"]:
        assert "🏫👩‍🏫" in html_body and "🏫👩‍🏫" in text and "🏫" in subject
    if name == HOSTILE["long"]:
        assert len(html_body) < 20_000 and "…" in html_body
    if name == HOSTILE["rtl"]:
        assert "gpj.exe" in html_body and "<bdi>" in html_body and "עברית" in html_body


def test_hostile_mail_from_cannot_inject() -> None:
    settings = Settings(_env_file=None, mail_from="Monitor <m@x.org>\r\nBcc: all@x.org")
    message = mail.render(notify(opened("a")), settings, T0)
    assert message["Bcc"] is None
    assert b"\nBcc:" not in message.as_bytes()


def test_all_resolved_subject() -> None:
    p = Pipeline(parse_subscriptions({"routes": [ROUTE]}))
    p.ingest(opened("a"), T0)
    p.mark_sent(p.due(T0)[0], T0)
    p.ingest(
        ViolationResolved.create(
            violation_id="a",
            labels=labels(),
            summary="",
            observed_at=T0,
            opened_at=T0,
            resolved_at=T0 + timedelta(seconds=1),
        ),
        T0,
    )
    [n] = p.due(T0 + timedelta(minutes=1))
    assert mail.subject(n) == f"[GosPublic] {TOWN}: все нарушения устранены (1)"
    text, _ = parts(mail.render(n, SETTINGS, T0))
    assert "Действующие нарушения" not in text


def test_unknown_rule_falls_back_to_its_id() -> None:
    n = notify(opened("a", rule="SOMETHING_NEW"))
    text, html_body = parts(mail.render(n, SETTINGS, T0))
    assert "SOMETHING_NEW" in text and "SOMETHING_NEW" in html_body


def test_the_rows_shown_are_the_first_of_the_full_order() -> None:
    severities = ["low", "critical", "high", "medium", "info"]
    events = [
        opened(
            f"v{n:04d}",
            **{"org_name": f"Школа {n % 7}", "severity": severities[n % 5], "rule": "STALE"},
        )
        for n in range(700)
    ]
    assert mail.most_severe(events) == mail.by_severity(events)[: mail.MAX_ROWS]
    assert mail.most_severe(events[:3]) == mail.by_severity(events[:3])


_SUBJECT_WORDS = st.lists(
    st.sampled_from(
        ["[GosPublic]", "Камчатский", "край:", "69", "нарушений", "(68", "новых)", "МБОУ", "«Школа",
         "№", "12»", "Ханты-Мансийский", "a", "bb", "x" * 40]
    ),
    min_size=1,
    max_size=30,
)  # fmt: skip


@settings(max_examples=400, deadline=None, database=None)
@given(words=_SUBJECT_WORDS)
def test_a_subject_reads_back_with_every_space(words: list[str]) -> None:
    """The email package's own folding lost the space at an encoded-word split ("69нарушений")."""
    text = " ".join(words)
    message = EmailMessage()
    mail.set_subject(message, text)
    message["From"] = "monitor@example.org"
    message.set_content("x")
    for flatten in (policy.default, policy.SMTP):
        raw = message.as_bytes(policy=flatten)
        head = raw.replace(b"\r\n", b"\n").split(b"\n\n")[0]
        assert all(len(line) <= 78 for line in head.split(b"\n"))
        assert str(email.message_from_bytes(raw, policy=policy.default)["Subject"]) == text


def test_the_subject_that_lost_its_space_in_a_national_run() -> None:
    text = "[GosPublic] Камчатский край: 69 нарушений (68 новых)"
    message = EmailMessage()
    mail.set_subject(message, text)
    message.set_content("x")
    assert str(mail.from_bytes(message.as_bytes())["Subject"]) == text


@settings(max_examples=400, deadline=None, database=None)
@given(
    data=st.lists(st.sampled_from([b"a", b"\xd0\x96", b"\r", b"\n", b"\r\n", b" "])).map(b"".join)
)
def test_line_ends_become_crlf_as_the_regular_expression_made_them(data: bytes) -> None:
    assert mail.crlf(data) == re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def test_a_rendered_notification_flattens_to_the_bytes_of_as_bytes() -> None:
    events = [opened(f"v{n:03d}", summary=f"Строка {n}\r\nещё\rи ещё\n") for n in range(250)]
    for n in (notify(*events), notify(opened("a"), opened("b", rule="STALE"))):
        message = mail.render(n, SETTINGS, T0)
        assert mail.flatten(message) == message.as_bytes()


_BODY = st.lists(
    st.sampled_from(["a", "Жж", " ", "\r", "\n", "\r\n", "From x", ".", "=", "😀"])
).map("".join)


@settings(max_examples=300, deadline=None, database=None)
@given(
    text=_BODY,
    html_body=_BODY,
    cte=st.sampled_from(["base64", "quoted-printable", "8bit"]),
    flatten_policy=st.sampled_from([policy.default, policy.SMTP]),
)
def test_flatten_writes_the_bytes_of_as_bytes(
    text: str, html_body: str, cte: str, flatten_policy
) -> None:
    message = EmailMessage(policy=flatten_policy)
    message["Subject"] = "x"
    message.set_content(text, cte=cte)
    message.add_alternative(html_body, subtype="html", cte=cte)
    assert mail.flatten(message) == message.as_bytes()


def test_the_alert_template_escapes_and_cleans_a_hostile_name() -> None:
    name = "<script>alert(1)</script>\u202eexe.cod\u202c \u2067עברית\u2069\u200f"
    n = notify(opened("a", org_name=name, summary=name))
    html_body = parts(mail.render(n, SETTINGS, T0))[1]
    assert "<script>" not in html_body
    assert html_body.count("<bdi>&lt;script&gt;alert(1)&lt;/script&gt;exe.cod עברית</bdi>") == 2
    for char in "\u202e\u202c\u2067\u2069\u200f":
        assert char not in html_body, repr(char)


def test_the_bytes_written_directly_are_the_email_packages() -> None:
    events = [opened(f"v{n:03d}", summary=f"Строка {n}\r\nещё\rи ещё\n") for n in range(250)]
    hostile = "<script>\u202e</script>\r\n."
    for n in (
        notify(*events),
        notify(opened("a"), opened("b", rule="STALE", org_name=hostile, summary=hostile)),
    ):
        headers, parts = mail.render_bytes(n, SETTINGS, T0)
        data = parts.message()
        assert data == mail.flatten(mail.render(n, SETTINGS, T0))
        assert headers["Message-ID"] == mail.render(n, SETTINGS, T0)["Message-ID"]
        parsed = mail.from_bytes(data)
        assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_a_row_is_rendered_again_for_another_event_under_the_same_id() -> None:
    first = opened("a", org_name="Школа № 1")
    changed = first.model_copy(update={"summary": "Другое описание"})
    assert changed.event_id == first.event_id
    assert "Другое описание" not in parts(mail.render(notify(first), SETTINGS, T0))[0]
    text, html_body = parts(mail.render(notify(changed), SETTINGS, T0))
    assert "Другое описание" in text and "Другое описание" in html_body


def test_an_intent_keeps_the_parts_and_gives_back_the_same_message() -> None:
    events = [opened(f"v{n:03d}", summary=f"Строка {n}\r\nещё") for n in range(250)]
    n = notify(*events)
    _, parts = mail.render_bytes(n, SETTINGS, T0)
    intent = Intent("<id@gospublic>", parts.message(), n.firing_ids, n.resolved_ids, parts)
    value = encode_intent(n.log_key, None, intent)
    assert len(value) < len(encode_intent(n.log_key, None, replace(intent, parts=None))) / 2
    _, entry, back = decode_value(value)
    assert (
        entry is None
        and back == intent
        and back.message == mail.flatten(mail.render(n, SETTINGS, T0))
    )

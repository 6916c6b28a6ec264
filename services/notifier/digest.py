"""Weekly digest per e-mail subscriber: one HTML e-mail with the state of their organisations.

A subscriber is an e-mail address of a route with ``digest: true`` (the default); their alerts are
the ones any of their routes matches, less what inhibit rules and silences mute. Their organisations
are those with such alerts and those whose scores a route covers: every matcher of the route on an
organisation label (org_id, org_name, founder, municipality, sphere, level) matches; matchers on
the other labels (rule, severity, platform, page) do not narrow the scores. The digest lists each
organisation with its open violations counted by severity, its scores and their change since the
previous weekly digest, what changed in the period (opened, resolved), and what to fix there first;
then the fixes that would clear the most overall, most severe first.

The notifier owns no ClickHouse (in the embedded default only the evaluator may open the store), so
a digest is built from what the notifier already keeps: the open alerts, the resolutions it saw and
each organisation's latest ``ScoresUpdated`` with the scores as of the previous digest (all in NATS
KV). An organisation the evaluator has not scored yet and without violations is not listed; the
dashboard link covers it. What a digest says, and when, is built in :mod:`.digestdata` (its names
are re-exported here); this module renders it as an e-mail (plain text and HTML).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from gospublic import templating
from gospublic.rulebook import PLATFORM_TITLES
from gospublic.settings import Settings

from . import email as mail
from .digestdata import PERIOD as PERIOD
from .digestdata import SEVERITIES as SEVERITIES
from .digestdata import Digest as Digest
from .digestdata import Fix as Fix
from .digestdata import OrgRow as OrgRow
from .digestdata import baseline_of as baseline_of
from .digestdata import build as build
from .digestdata import covers_organisation as covers_organisation
from .digestdata import latest_slot as latest_slot
from .digestdata import slot_of as slot_of
from .digestdata import subscribers as subscribers
from .digestdata import zone as zone

MAX_ORGANISATIONS = 300
MAX_CHANGES = 100
# The score components in the order the digest shows them, with their names.
SCORE_TITLES = {
    "compliance": "Соответствие",
    "design": "Оформление",
    "frequency": "Частотность",
    "engagement": "Вовлеченность",
    "response": "Отклик",
}
# The scorecard's colours as the digest names and paints them (the XLSX export's fills).
LIGHTS = {
    "green": ("зелёный", "#C6EFCE"),
    "yellow": ("жёлтый", "#FFEB9C"),
    "red": ("красный", "#FFC7CE"),
}


def platforms_summary(digest: Digest) -> str:
    """ "По площадкам: ВКонтакте — нарушений 12; MAX — нарушений 3, не подключено каналов 2" """
    if not digest.platforms:
        return ""
    parts = []
    for platform, violations, not_connected in digest.platforms:
        part = f"{PLATFORM_TITLES.get(platform, platform)} — нарушений {violations}"
        if not_connected:
            part += f", не подключено к мониторингу каналов {not_connected}"
        parts.append(part)
    return "По площадкам: " + "; ".join(parts)


# --- rendering -------------------------------------------------------------------------------

_SHORT = {
    "critical": "Крит.",
    "high": "Выс.",
    "medium": "Сред.",
    "low": "Низк.",
    "warning": "Пред.",
    "info": "Инф.",
}


def _dates(digest: Digest, settings: Settings) -> str:
    try:
        tz = zone(settings.digest_timezone)
    except ValueError:
        tz = UTC  # no time zone database: dates in UTC rather than no digest
    first = digest.start.astimezone(tz)
    last = (digest.end - timedelta(seconds=1)).astimezone(tz)
    return f"{first:%d.%m.%Y}–{last:%d.%m.%Y}"


def subject(digest: Digest, settings: Settings) -> str:
    n = digest.open_total
    orgs = sum(1 for row in digest.organisations if row.total)
    if n:
        state = (
            f"{n} {mail.plural(n, 'нарушение', 'нарушения', 'нарушений')} в {orgs} "
            f"{mail.plural(orgs, 'организации', 'организациях', 'организациях')}"
        )
    else:
        state = "открытых нарушений нет"
    changes = f"+{len(digest.opened)} / −{len(digest.resolved)} за неделю"
    return mail.header_value(
        f"{mail.BRAND} Сводка за {_dates(digest, settings)}: {state}, {changes}"
    )


def _number(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def score_texts(row: OrgRow) -> list[str]:
    """Each known score as "Отклик 62,5 (+4,0)", the change since the previous digest in brackets."""
    out = []
    for component, title in SCORE_TITLES.items():
        if component not in row.scores:
            continue
        text = f"{title} {_number(row.scores[component])}"
        change = row.change(component)
        if change is not None:
            sign = "±" if change == 0 else ("+" if change > 0 else "−")
            text += f" ({sign}{_number(abs(change))})"
        out.append(text)
    return out


def scorecard_text(row: OrgRow) -> str:
    """ "жёлтый, 62,5 из 95 (+5,0)": colour, total of the weights' sum, change since last week."""
    card = row.scorecard
    if card is None:
        return ""
    total = _number(card.total).removesuffix(",0")
    out_of = _number(card.out_of).removesuffix(",0")
    text = f"{LIGHTS[card.colour][0]}, {total} из {out_of}"
    change = row.scorecard_change()
    if change is not None:
        sign = "±" if change == 0 else ("+" if change > 0 else "−")
        text += f" ({sign}{_number(abs(change))})"
    return text


def lights_summary(digest: Digest) -> str:
    """ "Светофор: зелёных 3, жёлтых 1, красных 2" over the subscriber's organisations."""
    cards = [row.scorecard.colour for row in digest.organisations if row.scorecard is not None]
    if not cards:
        return ""
    words = {"green": "зелёных", "yellow": "жёлтых", "red": "красных"}
    return "Светофор: " + ", ".join(f"{words[c]} {cards.count(c)}" for c in LIGHTS)


def _event_line(event) -> str:
    labels = event.labels
    return (
        f"{mail.clean(labels.org_name)} — {mail.clean(mail.rule_title(labels.rule), 200)} "
        f"({mail.severity_title(labels.severity)})"
    )


def render_text(digest: Digest, settings: Settings) -> str:
    lines = [subject(digest, settings).removeprefix(mail.BRAND).strip(), ""]
    totals = digest.open_by_severity
    lines.append(
        "Открытые нарушения: "
        + ", ".join(f"{mail.severity_title(s)} {totals[s]}" for s in SEVERITIES if totals[s])
        if digest.open_total
        else "Открытых нарушений нет."
    )
    if lights := lights_summary(digest):
        lines.append(lights)
    if platforms := platforms_summary(digest):
        lines.append(platforms)
    lines.append("")
    if digest.organisations:
        lines.append(f"Организации ({len(digest.organisations)}):")
        for number, row in enumerate(digest.organisations[:MAX_ORGANISATIONS], start=1):
            counts = ", ".join(f"{_SHORT[s]} {row.open[s]}" for s in SEVERITIES if row.open.get(s))
            lines.append(
                f"{number}. {mail.clean(row.org_name)} ({mail.clean(row.municipality, 200)}): "
                f"{counts or 'нет открытых'}; за неделю +{row.opened} / −{row.resolved}"
            )
            if row.scorecard is not None:
                lines.append(f"   Светофор: {scorecard_text(row)}")
            if row.scores:
                lines.append(f"   Оценки: {', '.join(score_texts(row))}")
            if row.fixes:
                titles = "; ".join(mail.clean(mail.rule_title(r), 200) for r in row.fixes)
                lines.append(f"   Исправить: {titles}")
            card = mail.org_link(row.org_id, settings)
            if card:
                lines.append(f"   {card}")
        if (extra := len(digest.organisations) - MAX_ORGANISATIONS) > 0:
            lines.append(f"…и ещё {extra}: полный список в панели мониторинга.")
        lines.append("")
    if digest.fixes:
        lines.append("Что исправить в первую очередь:")
        for number, fix in enumerate(digest.fixes, start=1):
            lines.append(
                f"{number}. {mail.rule_title(fix.rule)} — {fix.violations} "
                f"в {fix.organisations} орг. {mail.rule_fix(fix.rule)}"
            )
        lines.append("")
    for title, events in (("Новые за неделю", digest.opened), ("Устранены", digest.resolved)):
        if events:
            lines.append(f"{title}: {len(events)}")
            lines.extend(f"- {_event_line(e)}" for e in events[:MAX_CHANGES])
            if (extra := len(events) - MAX_CHANGES) > 0:
                lines.append(f"…и ещё {extra}.")
            lines.append("")
    if dashboard := mail.safe_url(settings.dashboard_url):
        lines.append(f"Панель мониторинга: {mail.clean(dashboard, 500)}")
    lines.append(
        "Еженедельная сводка GosPublic Monitor, подписки: "
        f"{mail.clean(', '.join(digest.routes), 300)}."
    )
    return "\n".join(lines) + "\n"


def render_html(digest: Digest, settings: Settings) -> str:
    organisations = [
        {
            "org_name": row.org_name,
            "org_link": mail.org_link(row.org_id, settings),
            "municipality": row.municipality,
            "numbers": [
                *(row.open.get(s, 0) for s in SEVERITIES),
                row.total,
                row.opened,
                row.resolved,
            ],
            "scores": score_texts(row),
            "light": scorecard_text(row),
            "light_fill": LIGHTS[row.scorecard.colour][1] if row.scorecard else "",
            "fixes": [mail.rule_title(rule) for rule in row.fixes],
        }
        for row in digest.organisations[:MAX_ORGANISATIONS]
    ]
    fixes = [
        {
            "title": mail.rule_title(fix.rule),
            "violations": f"{fix.violations} "
            + mail.plural(fix.violations, "нарушение", "нарушения", "нарушений"),
            "organisations": f"{fix.organisations} "
            + mail.plural(fix.organisations, "организации", "организациях", "организациях"),
            "severity": mail.severity_title(fix.severity),
            "fix": mail.rule_fix(fix.rule),
        }
        for fix in digest.fixes
    ]
    changes = [
        {
            "heading": heading,
            "total": len(events),
            "rows": [
                {
                    "org_name": event.labels.org_name,
                    "org_link": mail.org_link(event.labels.org_id, settings),
                    "rule_title": mail.rule_title(event.labels.rule),
                    "severity": mail.severity_title(event.labels.severity),
                }
                for event in events[:MAX_CHANGES]
            ],
            "more": max(0, len(events) - MAX_CHANGES),
        }
        for heading, events in (
            ("Новые за неделю", digest.opened),
            ("Устранены за неделю", digest.resolved),
        )
        if events
    ]
    head = ["Организация", "Муниципалитет", *(_SHORT[s] for s in SEVERITIES)]
    head += ["Всего", "Новые", "Устранены", "Светофор (изменение за неделю)"]
    head += ["Оценки (изменение за неделю)", "Что исправить"]
    return templating.render(
        __package__,
        "digest.html",
        title=subject(digest, settings).removeprefix(mail.BRAND).strip(),
        head=head,
        organisations=organisations,
        lights=lights_summary(digest),
        platforms=platforms_summary(digest),
        more_organisations=max(0, len(digest.organisations) - MAX_ORGANISATIONS),
        fixes=fixes,
        changes=changes,
        dashboard=mail.safe_url(settings.dashboard_url),
        routes=", ".join(digest.routes),
    )


def message_id(digest: Digest) -> str:
    """Stable per subscriber and period start: a retry of a week's digest is the same message."""
    key = "\x1f".join((digest.address, digest.start.isoformat()))
    return f"<digest-{hashlib.sha256(key.encode()).hexdigest()[:32]}@gospublic>"


def render(digest: Digest, settings: Settings, now: datetime) -> EmailMessage:
    message = EmailMessage()
    mail.set_subject(message, subject(digest, settings))
    message["From"] = mail.header_value(settings.mail_from, 300)
    message["To"] = mail.header_value(digest.address, 300)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(digest)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render_text(digest, settings), cte="base64")
    message.add_alternative(render_html(digest, settings), subtype="html", cte="base64")
    return message

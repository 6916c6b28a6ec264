"""The weekly digest shows the subscriber's open violations per platform, MAX beside VK, OK and
Telegram, with the channels not connected to the monitoring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gospublic.contracts import AlertLabels, ViolationOpened
from gospublic.settings import Settings
from services.notifier import digest
from services.notifier.subscriptions import parse_subscriptions

END = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)  # Monday 09:00 in Moscow
START = END - digest.PERIOD
DAY = timedelta(days=1)
SETTINGS = Settings(_env_file=None)


def opened(vid: str, org: str, at: datetime, **extra: str) -> ViolationOpened:
    fields = {
        "org_id": f"10236000000{org}", "org_name": f"Школа {org}", "founder": "Отдел",
        "municipality": "Борисоглеб", "sphere": "education", "level": "municipal",
        "platform": "vk", "page_id": org, "page_url": "", "rule": "DESCRIPTION_MISSING",
        "severity": "high", **extra,
    }  # fmt: skip
    return ViolationOpened.create(
        violation_id=vid, labels=AlertLabels(**fields), summary=vid, observed_at=at, opened_at=at
    )


def routes_one() -> object:
    return parse_subscriptions({"routes": [{"name": "r", "receivers": {"email": ["a@x.org"]}}]})


def bodies(item: digest.Digest) -> tuple[str, str]:
    message = digest.render(item, SETTINGS, END)
    return (
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    )


def test_open_violations_per_platform_and_channels_not_connected() -> None:
    events = [
        opened("vk-1", "01", START + DAY),
        opened("vk-2", "02", START + DAY, rule="STALE"),
        opened("max-1", "01", START + DAY, platform="max", page_id="school1_gos",
               rule="PAGE_NOT_CONNECTED", severity="medium"),
        opened("max-2", "03", START + DAY, platform="max", page_id="school3_gos",
               rule="PAGE_NOT_CONNECTED", severity="medium"),
        opened("tg-1", "02", START + DAY, platform="tg", page_id="school2", rule="STALE"),
    ]  # fmt: skip
    [item] = digest.build(routes_one(), events, [], START, END)
    assert item.platforms == (("vk", 2, 0), ("tg", 1, 0), ("max", 2, 2))
    line = (
        "По площадкам: ВКонтакте — нарушений 2; Telegram — нарушений 1; "
        "MAX — нарушений 2, не подключено к мониторингу каналов 2"
    )
    plain, html = bodies(item)
    assert line in plain
    assert line in html


def test_no_platform_line_without_open_violations() -> None:
    [item] = digest.build(routes_one(), [], [], START, END)
    assert item.platforms == ()
    assert "По площадкам" not in bodies(item)[0]

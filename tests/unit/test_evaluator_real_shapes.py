"""Verdicts on answers shaped as VK really sends them, from groups.getById and wall.get through the
mapping (``gospublic.platforms.vk``) to the rules: what the answer does not show is never a FAIL.

The shapes follow recorded responses: an old group object that carries only the requested keys,
``addresses`` naming its main address by id alone, open walls where citizens' posts outnumber the
page's own, a pinned post older than everything else on the wall, a ``count`` far above the items
returned.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gospublic import contracts as c
from gospublic.platforms import vk as vn
from services.collector.vk_collect import REQUESTED_FIELDS
from services.evaluator import rules as r
from services.evaluator.profiles import load_profile

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
GID = 109125816
REF = c.PageRef(platform=c.Platform.VK, native_id=str(GID), org_id="1023601234567")
DEFAULT = load_profile("dialog-default")
DESCRIPTION = (
    "Официальная страница МБОУ СОШ № 3. Наша цель — качественное образование. "
    "Телефон: +7 (47391) 4-11-22, почта school3@liski.ru"
)
PROFILE_RULES = (
    r.DESCRIPTION_MISSING,
    r.DESCRIPTION_NO_GOALS,
    r.CONTACT_PHONE_MISSING,
    r.CONTACT_EMAIL_MISSING,
    r.ADDRESS_MISSING,
    r.WEBSITE_LINK_MISSING,
    r.AVATAR_MISSING,
    r.COVER_MISSING,
)


def verdicts(group: dict, requested: frozenset[str] | None = None) -> dict[str, str]:
    snapshot = vn.build_snapshot(group, REF, "s", NOW, requested)
    assert c.decode(snapshot.to_bytes()) == snapshot
    return {
        x.rule: x.status for x in r.evaluate_profile(snapshot, DEFAULT) if x.rule in PROFILE_RULES
    }


# --- absent is not empty ------------------------------------------------------------------------

# groups.getById with only the default fields, as an old client or a saved answer has it: no
# description, contacts, addresses, site, links, cover or has_photo keys at all.
BARE_GROUP = {
    "id": GID,
    "name": "МБОУ СОШ № 3",
    "screen_name": "school3_liski",
    "is_closed": 0,
    "type": "group",
    "is_admin": 0,
    "is_member": 0,
    "is_advertiser": 0,
    "photo_50": "https://sun9-1.userapi.com/s/v1/ig2/abc.jpg?size=50x50",
    "photo_100": "https://sun9-1.userapi.com/s/v1/ig2/abc.jpg?size=100x100",
    "photo_200": "https://sun9-1.userapi.com/s/v1/ig2/abc.jpg?size=200x200",
}


def test_fields_that_were_not_requested_are_not_evaluable_not_failed() -> None:
    """Before: description, phone, e-mail, address and website all FAILed for an answer that
    simply did not carry them."""
    got = verdicts(BARE_GROUP)
    for rule in (
        r.DESCRIPTION_MISSING,
        r.DESCRIPTION_NO_GOALS,
        r.CONTACT_PHONE_MISSING,
        r.CONTACT_EMAIL_MISSING,
        r.ADDRESS_MISSING,
        r.WEBSITE_LINK_MISSING,
        r.COVER_MISSING,
    ):
        assert got[rule] == r.NOT_EVALUABLE, rule
    assert got[r.AVATAR_MISSING] == r.PASS  # the picture's address is always in the object


def test_requested_and_left_out_is_empty_and_fails() -> None:
    """VK leaves an empty requested field out: asked for and absent is a page without it."""
    got = verdicts({**BARE_GROUP, "description": "", "has_photo": 0, "cover": {"enabled": 0}},
                   REQUESTED_FIELDS)  # fmt: skip
    for rule in PROFILE_RULES:
        assert got[rule] == r.FAIL, rule


def test_what_is_shown_counts_even_when_other_fields_are_unknown() -> None:
    got = verdicts({**BARE_GROUP, "description": DESCRIPTION})
    assert got[r.DESCRIPTION_MISSING] == r.PASS
    assert got[r.DESCRIPTION_NO_GOALS] == r.PASS
    assert got[r.CONTACT_PHONE_MISSING] == r.PASS  # found in the description
    assert got[r.CONTACT_EMAIL_MISSING] == r.PASS
    assert got[r.ADDRESS_MISSING] == r.NOT_EVALUABLE
    # No phone in the description, contacts not shown: the phone may well be there.
    got = verdicts({**BARE_GROUP, "description": "Школа № 3", "site": ""})
    assert got[r.CONTACT_PHONE_MISSING] == r.NOT_EVALUABLE
    assert got[r.WEBSITE_LINK_MISSING] == r.NOT_EVALUABLE  # links not shown


def test_unknown_facts_are_listed_in_the_snapshot() -> None:
    snapshot = vn.build_snapshot({**BARE_GROUP, "description": "x"}, REF, "s", NOW)
    assert snapshot.unknown == ("site", "links", "phones", "emails", "address")
    assert vn.build_snapshot(BARE_GROUP, REF, "s", NOW, REQUESTED_FIELDS).unknown == ()


def test_a_default_picture_is_no_avatar() -> None:
    group = {**BARE_GROUP, "photo_200": "https://vk.com/images/community_200.png"}
    assert verdicts(group)[r.AVATAR_MISSING] == r.FAIL
    assert verdicts({**group, "has_photo": 1})[r.AVATAR_MISSING] == r.PASS


# --- VK's real shapes ----------------------------------------------------------------------------


def test_an_address_named_by_id_alone_is_an_address() -> None:
    """fields=addresses in API 5.120 gives ``{"is_enabled": true, "main_address_id": N}`` without
    the address object; ADDRESS_MISSING failed on it."""
    group = {**BARE_GROUP, "description": DESCRIPTION, "site": "https://school3.ru",
             "addresses": {"is_enabled": True, "main_address_id": 1784}}  # fmt: skip
    got = verdicts(group, REQUESTED_FIELDS)
    assert got[r.ADDRESS_MISSING] == r.PASS
    assert got[r.CONTACT_PHONE_MISSING] == r.PASS  # in the description
    # The address block's phone is not shown: without another phone nothing is proven.
    group["description"] = "Школа № 3: наша цель — образование. Почта school3@liski.ru"
    assert verdicts(group, REQUESTED_FIELDS)[r.CONTACT_PHONE_MISSING] == r.NOT_EVALUABLE


@pytest.mark.parametrize(
    "addresses", [{"is_enabled": False}, {"is_enabled": 0, "main_address_id": 5}]
)
def test_a_disabled_address_block_is_no_address(addresses: dict) -> None:
    group = {**BARE_GROUP, "addresses": addresses}
    assert verdicts(group, REQUESTED_FIELDS)[r.ADDRESS_MISSING] == r.FAIL


def test_a_contact_person_without_phone_or_email_is_neither() -> None:
    group = {**BARE_GROUP, "description": "Школа № 3", "contacts": [{"user_id": 421825761}]}
    got = verdicts(group, REQUESTED_FIELDS)
    assert got[r.CONTACT_PHONE_MISSING] == r.FAIL
    assert got[r.CONTACT_EMAIL_MISSING] == r.FAIL


# --- whose post is it, and what the wall cannot show ---------------------------------------------

DAY = 86_400
NOW_TS = int(NOW.timestamp())


def wall_post(post_id: int, from_id: int, age_days: float, **extra) -> dict:
    """A wall.get item as 5.199 sends it (``is_pinned`` only on the pinned post)."""
    body = {
        "id": post_id, "owner_id": -GID, "from_id": from_id, "date": NOW_TS - int(age_days * DAY),
        "post_type": "post", "text": f"Запись {post_id}", "attachments": [],
        "comments": {"count": 0, "can_post": 1, "groups_can_post": True},
        "likes": {"count": 3, "user_likes": 0, "can_like": 1}, "reposts": {"count": 0},
    }  # fmt: skip
    body.update(extra)
    return body


def citizen_repost(post_id: int, user: int, age_days: float) -> dict:
    source = {"id": 77, "owner_id": -1, "from_id": -1, "date": NOW_TS - 30 * DAY, "text": "x"}
    return wall_post(post_id, user, age_days, copy_history=[source])


def activity(items: list[dict], count: int) -> dict[str, r.RuleResult]:
    answer = {"count": count, "items": items}
    event = vn.build_posts(answer, GID, REF, "s", NOW)
    return {x.rule: x for x in r.evaluate_activity(event, DEFAULT, NOW)}


def test_a_pinned_old_post_above_citizens_posts_proves_nothing_about_staleness() -> None:
    """The shape of a recorded open wall (count 38,935, ten items): the page's own post pinned on
    top, older than everything else, then citizens' posts of the last days. STALE said
    "critical" from the pinned post's age; the page may well have posted since."""
    items = [wall_post(5000, -GID, 400, is_pinned=1)]
    items += [wall_post(6000 + i, 300_000 + i, 0.3 * (i + 1)) for i in range(9)]
    got = activity(items, 38_935)
    assert got[r.STALE].status == r.NOT_EVALUABLE
    assert "собственных записей 1 из 10 показанных" in got[r.STALE].summary
    assert got[r.LOW_FREQUENCY].status == r.NOT_EVALUABLE
    # The same wall shown whole: the pinned post is the newest own one, and it is old.
    got = activity(items, len(items))
    assert (got[r.STALE].status, got[r.STALE].severity) == (r.FAIL, "critical")


def test_citizens_posts_only_on_a_long_wall_are_not_evaluable() -> None:
    """Five citizens' posts of 339 and none by the page: "critical, none" before."""
    items = [wall_post(900 - i, 500_000 + i, 0.5 + i) for i in range(5)]
    got = activity(items, 339)
    assert got[r.STALE].status == r.NOT_EVALUABLE
    assert got[r.STALE].value == ">= 4.5d (собственных записей 0 из 5 показанных)"
    assert got[r.REPOST_HEAVY].status == r.NOT_EVALUABLE  # no post of the page's own in 4 weeks
    assert got[r.COMMENTS_CLOSED_POSTS].status == r.NOT_EVALUABLE


@pytest.mark.parametrize(
    ("span_days", "pinned_days", "status", "severity"),
    [
        (95, None, r.FAIL, "critical"),  # the span alone proves over 90 days
        (40, None, r.FAIL, "high"),  # over 40 days: at least high, maybe critical
        (40, 60, r.FAIL, "high"),  # between 40 and 60 days: high either way
        (40, 120, r.FAIL, "high"),  # at least 40 (high), at most 120 (critical): high proven
        (3, 20, r.NOT_EVALUABLE, "medium"),  # 3 to 20 days: pass or medium
        (40, 20, r.FAIL, "medium"),  # the pinned post lies inside the span: it is the newest
    ],
)
def test_a_wall_holding_more_than_shown_reports_the_grade_its_span_proves(
    span_days: float, pinned_days: float | None, status: str, severity: str
) -> None:
    items = [wall_post(1000, -GID, pinned_days, is_pinned=1)] if pinned_days else []
    steps = 19
    items += [wall_post(2000 - i, 700_000 + i, span_days * (i + 1) / steps) for i in range(steps)]
    got = activity(items, 5000)[r.STALE]
    assert (got.status, got.severity) == (status, severity), got


def test_a_proven_grade_is_the_lowest_the_span_supports() -> None:
    items = [wall_post(2000 - i, 700_000 + i, 2 * (i + 1)) for i in range(20)]  # 40 days
    got = activity(items, 5000)[r.STALE]
    assert got.value.startswith(">= 40.0d") and "как минимум 40 дн." in got.summary


def test_citizens_reposts_do_not_make_the_page_repost_heavy() -> None:
    """REPOST_HEAVY and COMMENTS_CLOSED_POSTS counted every post on an open wall: eight citizens'
    reposts made a page with two posts of its own "repost-heavy" (80 %)."""
    items = [wall_post(3000, -GID, 1), wall_post(2990, -GID, 3)]
    items += [citizen_repost(2980 - i, 800_000 + i, 0.5 + i) for i in range(8)]
    got = activity(items, 10)
    assert got[r.REPOST_HEAVY].status == r.PASS
    assert got[r.REPOST_HEAVY].value == (
        "0% (репостов 0 из 2 записей страницы; собственных записей 2 из 10 показанных)"
    )
    assert got[r.STALE].status == r.PASS


def test_the_pages_own_reposts_still_count() -> None:
    source = {"id": 77, "owner_id": -1, "from_id": -1, "date": NOW_TS - 30 * DAY, "text": "x"}
    items = [wall_post(3000, -GID, 1)]
    items += [wall_post(2980 - i, -GID, 2 + i, copy_history=[source]) for i in range(4)]
    items += [wall_post(2900 - i, 800_000 + i, 0.5 + i) for i in range(5)]
    got = activity(items, 10)[r.REPOST_HEAVY]
    assert got.status == r.FAIL and got.value.startswith("80% (репостов 4 из 5 записей страницы")


def test_comments_closed_under_citizens_posts_are_not_the_pages() -> None:
    closed = {"count": 0, "can_post": 0}
    items = [wall_post(3000 - i, -GID, 1 + i) for i in range(4)]
    items += [wall_post(2900 - i, 800_000 + i, 0.5 + i, comments=closed) for i in range(8)]
    got = activity(items, 12)[r.COMMENTS_CLOSED_POSTS]
    assert got.status == r.PASS
    assert "закрыты у 0 из 4 последних записей страницы" in got.value


# --- services through foreign messengers (149-FZ art. 10; 41-FZ since 2025-06-01) --------------

OFFERED = [
    "Заполните анкету в Telegram-боте, чтобы записать ребёнка в кружок",
    "Оставьте заявку в WhatsApp по номеру +7 900 123-45-67",
    "По всем вопросам пишите в вайбер",
    "Напишите нам в телеграм — ответим в течение дня",
    "Запись через ватсап: 8 (473) 255-12-34",
    "Запись на приём через WhatsApp: +7 900 000-00-00",
    "Пришлите скан паспорта в Viber",
    "Оплата кружков — пишите в телеграм",
    "Вопросы о компенсации задавайте в Вотсапе администратора",
    "Приём заявок на конкурс — в нашем Telegram-боте",
    "Связаться с приёмной можно в WhatsApp",
    "Справки о составе семьи выдаём через телеграмм",
    "Чат для родителей: https://chat.whatsapp.com/AbCdEf123",
    "Быстрая связь: https://wa.me/79001234567",
    "Подать показания счётчиков: t.me/liski_uk_bot",
    "Пишите: viber://chat?number=%2B79001234567",
]
NOT_OFFERED = [
    "В Telegram-канале опубликовано расписание",
    "Подписывайтесь на наш Telegram-канал: новости школы",
    "Наш канал в Telegram: новости школы",
    "Расписание приёма документов — в нашем Telegram-канале",
    "Смотрите запись эфира в телеграм",
    "Оплата через Госуслуги",
    "Мошенники рассылают в WhatsApp сообщения от имени главы: не отправляйте им документы",
    "Не сообщайте паспортные данные в мессенджерах WhatsApp и Telegram",
    "Работаем для вас. Мы в Telegram: t.me/liski_news",
    "Запись на приём — на Госуслугах. Новости — в Telegram-канале.",
    "",
]


@pytest.mark.parametrize(
    ("text", "found"), [(t, True) for t in OFFERED] + [(t, False) for t in NOT_OFFERED]
)
def test_foreign_messenger_service_words(text: str, found: bool) -> None:
    """ "Заполните анкету в Telegram-боте" and "оставьте заявку в WhatsApp" passed: the word lists
    knew only a few nouns, one spelling of each messenger and no chat links."""
    evidence = {e.rule: e.found for e in r.find_evidence(DEFAULT, [text])}
    assert bool(evidence[r.FOREIGN_MESSENGER_SERVICE]) == found, evidence


def test_a_chat_link_in_the_profile_links_is_evidence() -> None:
    group = {**BARE_GROUP, "description": "Школа", "links": [{"url": "https://wa.me/79001234567"}]}
    snapshot = vn.build_snapshot(group, REF, "s", NOW, REQUESTED_FIELDS)
    found = {e.rule: e.found for e in r.profile_evidence(snapshot, DEFAULT)}
    assert found[r.FOREIGN_MESSENGER_SERVICE] == "ссылка на чат: wa.me/"


def test_a_citizens_post_offering_a_messenger_is_not_the_pages() -> None:
    items = [wall_post(10, -GID, 1), wall_post(11, 555, 0.5, text="Пишите мне в WhatsApp")]
    event = vn.build_posts({"count": 2, "items": items}, GID, REF, "s", NOW)
    found = {e.rule: e.found for e in r.posts_evidence(event, DEFAULT)}
    assert found[r.FOREIGN_MESSENGER_SERVICE] == ""
    items[0]["text"] = "Пишите нам в WhatsApp"
    event = vn.build_posts({"count": 2, "items": items}, GID, REF, "s", NOW)
    found = {e.rule: e.found for e in r.posts_evidence(event, DEFAULT)}
    assert found[r.FOREIGN_MESSENGER_SERVICE] == "whatsapp + пишите"


# --- what the data cannot show: the remaining shapes of the recorded corpus ---------------------


def test_a_fresh_pinned_post_over_citizens_posts_proves_the_page_fresh() -> None:
    """Pinned own post 1.8 days old, nine citizens' posts of the last hours, a long wall: the
    newest own post is at most 1.8 days old, whatever lies beyond the span shown."""
    items = [wall_post(519471, -GID, 1.8, is_pinned=1)]
    items += [wall_post(520000 + i, 900_000 + i, 0.03 * (i + 1)) for i in range(9)]
    got = activity(items, 38_935)[r.STALE]
    assert got.status == r.PASS and got.value.startswith("<= 1.8d")


def test_a_few_days_of_a_long_wall_give_no_share_of_reposts() -> None:
    """Twenty own posts of the last three days, 45 on the wall: the repost share of four weeks is
    unknown (it passed at 0 %)."""
    items = [wall_post(3000 - i, -GID, 0.15 * (i + 1)) for i in range(20)]
    assert activity(items, 45)[r.REPOST_HEAVY].status == r.NOT_EVALUABLE
    assert activity(items, 20)[r.REPOST_HEAVY].status == r.PASS  # the whole wall: 0 % proven


def test_the_design_score_of_an_answer_showing_only_the_avatar_is_not_evaluable() -> None:
    """Only the avatar was known and "Оформление" came out 100 %: the score lies in a range."""
    snapshot = vn.build_snapshot(BARE_GROUP, REF, "s", NOW)
    got = {x.rule: x for x in r.evaluate_profile(snapshot, DEFAULT)}[r.DESIGN_SCORE_LOW]
    assert got.status == r.NOT_EVALUABLE and got.value == "10.0–100.0"
    # Description requested and empty: the parts known fail enough to prove the score low.
    snapshot = vn.build_snapshot({**BARE_GROUP, "description": ""}, REF, "s", NOW)
    got = {x.rule: x for x in r.evaluate_profile(snapshot, DEFAULT)}[r.DESIGN_SCORE_LOW]
    assert got.status == r.FAIL and got.value == "10.0–70.0"


def test_citizens_recent_posts_show_a_wall_open_that_the_profile_did_not_report() -> None:
    snapshot = vn.build_snapshot(BARE_GROUP, REF, "s", NOW)
    result = {x.rule: x for x in r.evaluate_profile(snapshot, DEFAULT)}[r.WALL_CLOSED]
    assert result.status == r.NOT_EVALUABLE
    items = [wall_post(900 - i, 500_000 + i, 0.5 + i) for i in range(5)]
    posts = vn.build_posts({"count": 339, "items": items}, GID, REF, "s", NOW)
    assert r.wall_open_in_posts(result, posts, NOW).status == r.PASS
    old = vn.build_posts({"count": 1, "items": [wall_post(5, 500_001, 400)]}, GID, REF, "s", NOW)
    assert r.wall_open_in_posts(result, old, NOW).status == r.NOT_EVALUABLE


def test_closed_comments_on_a_few_of_the_last_posts_of_a_long_wall() -> None:
    """Three posts of the page shown, comments closed on all, of a wall of 500: the last 20 may
    have comments open or closed (15 % to 100 %), which was a FAIL at 100 %."""
    closed = {"count": 0, "can_post": 0}
    items = [wall_post(3000 - i, -GID, 1 + i, comments=closed) for i in range(3)]
    items += [wall_post(2900 - i, 800_000 + i, 0.5 + i) for i in range(17)]
    got = activity(items, 500)[r.COMMENTS_CLOSED_POSTS]
    assert got.status == r.NOT_EVALUABLE and got.value.startswith("15%–100%")
    items = [wall_post(3000 - i, -GID, 1 + i, comments=closed) for i in range(12)]
    got = activity(items, 500)[r.COMMENTS_CLOSED_POSTS]
    assert got.status == r.FAIL and got.value.startswith("60%–100%")  # over half either way


def test_a_profile_answer_without_description_or_links_proves_no_absence_of_offers() -> None:
    """BANNED_PLATFORM_LINKS and FOREIGN_MESSENGER_SERVICE passed on an answer that carried no
    description, site or links: nothing found where nothing was shown."""
    snapshot = vn.build_snapshot(BARE_GROUP, REF, "s", NOW)
    evidence = {e.rule: e.found for e in r.profile_evidence(snapshot, DEFAULT)}
    assert evidence == {r.BANNED_PLATFORM_LINKS: None, r.FOREIGN_MESSENGER_SERVICE: None}
    for rule in r.EVIDENCE_RULES:
        assert r.combine_evidence(DEFAULT, rule, evidence[rule], "").status == r.NOT_EVALUABLE
    # The description and the links shown, the site not: what is shown is enough to pass.
    group = {**BARE_GROUP, "description": "Школа № 3", "links": [{"url": "https://vk.com/x"}]}
    snapshot = vn.build_snapshot(group, REF, "s", NOW)
    evidence = {e.rule: e.found for e in r.profile_evidence(snapshot, DEFAULT)}
    assert evidence == {r.BANNED_PLATFORM_LINKS: "", r.FOREIGN_MESSENGER_SERVICE: ""}
    # A finding counts whatever else is unknown.
    snapshot = vn.build_snapshot(
        {**BARE_GROUP, "description": "instagram.com/school3"}, REF, "s", NOW
    )
    evidence = {e.rule: e.found for e in r.profile_evidence(snapshot, DEFAULT)}
    assert evidence[r.BANNED_PLATFORM_LINKS] == "instagram.com"

"""Who answered whom, on ``wall.getComments`` answers shaped as VK really sends them, through the
mapping (``gospublic.platforms.vk``) to the comment rules.

The shapes follow recorded responses: a page (or a fund) answering in a top-level comment that
starts ``[id…|Имя], добрый день!`` with no ``reply_to_user``; a thread reply carrying both
``reply_to_user`` and ``reply_to_comment``; threads whose ``count`` is above zero while their
``items`` are empty (VK's default answer); a deleted comment with no author or text at all; a
``current_level_count`` above the items shown.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gospublic import contracts as c
from gospublic.platforms import vk as vn
from services.evaluator import rules as r
from services.evaluator.profiles import PROFILES_DIR, load_profile

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
GID = 33438842
PAGE = -GID
FUND = -220870455  # another community (a state fund) commenting on the page's post
REF = c.PageRef(platform=c.Platform.VK, native_id=f"club{GID}", org_id="1023601234567")
DEFAULT = load_profile("dialog-default")
H = 3600
DAY = 86_400
RULES = (r.UNANSWERED_COMMENT, r.SLOW_RESPONSE_MEDIAN, r.LOW_REPLY_RATE)


def ts(ago_s: float) -> int:
    return int(NOW.timestamp() - ago_s)


def item(cid: int, from_id: int, ago_s: float, text: str, post: int = 100, **kw) -> dict:
    """One comment as wall.getComments returns it (v5.199: owner_id, parents_stack, thread)."""
    out = {
        "id": cid,
        "from_id": from_id,
        "date": ts(ago_s),
        "text": text,
        "post_id": post,
        "owner_id": PAGE,
        "parents_stack": [],
        **kw,
    }
    return out


def thread(*replies: dict, count: int | None = None) -> dict:
    return {
        "count": len(replies) if count is None else count,
        "items": list(replies),
        "can_post": True,
        "show_reply_button": True,
        "groups_can_post": True,
    }


def reply(cid: int, root: int, from_id: int, ago_s: float, text: str, to_user: int, **kw) -> dict:
    return item(
        cid, from_id, ago_s, text, parents_stack=[root], reply_to_user=to_user,
        reply_to_comment=root, **kw,
    )  # fmt: skip


def answer(*items: dict, level: int | None = None) -> dict:
    return {
        "count": len(items),
        "items": list(items),
        "current_level_count": len(items) if level is None else level,
        "can_post": True,
        "show_reply_button": True,
        "groups_can_post": True,
    }


def verdicts(
    *answers: tuple[str, dict], profile=DEFAULT, wall: list[c.Post] | None = None
) -> dict[str, r.RuleResult]:
    pages = vn.CommentPages(GID)
    for post, response in answers:
        pages.add(response, post)
    others = vn.posts_by_others(wall or [], GID)
    event = pages.build(REF, "s", NOW, citizen_posts=others)
    return {x.rule: x for x in r.evaluate_comments(event, profile, NOW)}


def statuses(results: dict[str, r.RuleResult]) -> tuple[str, ...]:
    return tuple(results[rule].status for rule in RULES)


QUESTION = "Когда отремонтируют дорогу на улице Ленина?"


# --- who answered -----------------------------------------------------------------------------


def test_a_top_level_answer_naming_the_citizen_answers_without_reply_to_user() -> None:
    """The page answers below, not in the thread: ``[id…|Имя], добрый день!`` (as recorded)."""
    response = answer(
        item(1, 551784194, 10 * DAY, QUESTION, thread=thread()),
        item(2, PAGE, 10 * DAY - 2 * H, "[id551784194|Надежда Котенко], добрый день! Ремонт в "
             "июле.", thread=thread()),
    )  # fmt: skip
    assert statuses(verdicts(("100", response))) == (r.PASS, r.PASS, r.PASS)


def test_a_top_level_answer_with_reply_to_user_and_no_mention_answers() -> None:
    response = answer(
        item(1, 551784194, 10 * DAY, QUESTION, thread=thread()),
        item(2, PAGE, 10 * DAY - H, "Добрый день! Ремонт запланирован на июль.",
             reply_to_user=551784194, thread=thread()),
    )  # fmt: skip
    assert statuses(verdicts(("100", response))) == (r.PASS, r.PASS, r.PASS)


def test_a_thread_reply_with_reply_to_user_and_reply_to_comment_answers() -> None:
    response = answer(
        item(2, 138826793, 10 * DAY, QUESTION, thread=thread(
            reply(3, 2, PAGE, 10 * DAY - H, "[id138826793|Александр], ремонт в июле.", 138826793),
        )),
    )  # fmt: skip
    assert statuses(verdicts(("100", response))) == (r.PASS, r.PASS, r.PASS)


def test_a_named_answer_covers_the_citizens_earlier_comments_only() -> None:
    """One answer naming Иван answers his two questions before it, not Пётр's, and not Иван's
    next one."""
    response = answer(
        item(1, 501, 10 * DAY, QUESTION, thread=thread()),
        item(2, 501, 10 * DAY - 600, "И ещё: когда вывезут мусор?", thread=thread()),
        item(3, 502, 10 * DAY - 900, "А у нас во дворе тоже яма.", thread=thread()),
        item(4, PAGE, 10 * DAY - 2 * H, "[id501|Иван], здравствуйте! Ремонт в июле, мусор — "
             "завтра.", thread=thread()),
        item(5, 501, 9 * DAY, "Спасибо, а освещение?", thread=thread()),
    )  # fmt: skip
    pages = vn.CommentPages(GID)
    pages.add(response, "100")
    event = pages.build(REF, "s", NOW)
    answered = {a.comment.comment_id: a.replied_at for a in r.event_answers(event, DEFAULT)}
    page_answer = datetime.fromtimestamp(ts(10 * DAY - 2 * H), UTC)
    assert answered == {"1": page_answer, "2": page_answer, "3": None, "5": None}


def test_an_answer_by_another_community_naming_the_citizen_is_not_the_pages() -> None:
    """The recorded case: a fund answers a citizen on the page's wall; the page itself did not."""
    response = answer(
        item(1, 551784194, 10 * DAY, QUESTION, thread=thread()),
        item(2, FUND, 10 * DAY - H, "[id551784194|Надежда Котенко], добрый день! Обратитесь к "
             "нам.", thread=thread()),
    )  # fmt: skip
    results = verdicts(("100", response))
    assert results[r.UNANSWERED_COMMENT].status == r.FAIL
    assert results[r.LOW_REPLY_RATE].status == r.FAIL


def test_another_communitys_comment_is_not_a_request_unless_the_profile_says_so(
    tmp_path,
) -> None:
    response = answer(item(1, FUND, 10 * DAY, "Приглашаем на форум фонда!", thread=thread()))
    results = verdicts(("100", response))
    assert results[r.UNANSWERED_COMMENT].status == r.PASS
    assert results[r.LOW_REPLY_RATE].status == r.NOT_EVALUABLE  # no request at all

    text = (PROFILES_DIR / "dialog-default.yaml").read_text(encoding="utf-8")
    assert "community_comments_are_requests: false" in text
    counting = tmp_path / "counting.yaml"
    counting.write_text(
        text.replace(
            "community_comments_are_requests: false", "community_comments_are_requests: true"
        ),
        encoding="utf-8",
    )
    results = verdicts(("100", response), profile=load_profile(str(counting)))
    assert results[r.UNANSWERED_COMMENT].status == r.FAIL
    assert results[r.LOW_REPLY_RATE].status == r.FAIL


def wall_post(post_id: int, from_id: int) -> c.Post:
    return c.Post(
        post_id=str(post_id), posted_at=NOW - timedelta(days=12), from_id=str(from_id),
        is_own=from_id == PAGE, is_repost=False, comments_count=2,
    )  # fmt: skip


def test_citizens_talking_under_a_citizens_post_are_not_requests_to_the_page() -> None:
    under_citizen = answer(
        item(1, 777, 10 * DAY, "Согласен, яма огромная.", post=200, thread=thread(
            reply(2, 1, 778, 10 * DAY - H, "[id777|Олег], и не говорите.", 777, post=200),
        )),
    )  # fmt: skip
    wall = [wall_post(100, PAGE), wall_post(200, 501)]
    results = verdicts(("200", under_citizen), wall=wall)
    assert statuses(results) == (r.PASS, r.NOT_EVALUABLE, r.NOT_EVALUABLE)
    # The same talk under the page's own post is two requests waiting for ten days.
    assert verdicts(("200", under_citizen))[r.UNANSWERED_COMMENT].status == r.FAIL


def test_a_comment_under_a_community_repost_of_the_page_is_still_a_request() -> None:
    wall = [wall_post(100, PAGE)]
    response = answer(item(1, 501, 10 * DAY, QUESTION, thread=thread()))
    assert verdicts(("100", response), wall=wall)[r.UNANSWERED_COMMENT].status == r.FAIL


# --- what the data cannot show ------------------------------------------------------------------


def test_a_thread_not_loaded_is_not_evaluable_rather_than_unanswered() -> None:
    """VK's default answer: ``thread.count`` 1, ``items`` [] — the page's reply may be that one."""
    response = answer(
        item(1, 501, 10 * DAY, QUESTION, thread=thread(count=1)),
    )
    results = verdicts(("100", response))
    assert statuses(results) == (r.NOT_EVALUABLE, r.NOT_EVALUABLE, r.NOT_EVALUABLE)
    assert "не загружены" in results[r.UNANSWERED_COMMENT].summary


def test_a_thread_loaded_in_full_is_judged() -> None:
    response = answer(
        item(1, 501, 10 * DAY, QUESTION, thread=thread(
            reply(2, 1, 502, 10 * DAY - H, "[id501|Иван], у нас так же.", 501),
        )),
    )  # fmt: skip
    assert statuses(verdicts(("100", response))) == (r.FAIL, r.FAIL, r.FAIL)


def test_a_late_answer_seen_still_fails_beside_an_unloaded_thread_on_another_post() -> None:
    seen = answer(
        item(1, 501, 10 * DAY, QUESTION, thread=thread(
            reply(2, 1, PAGE, 7 * DAY, "[id501|Иван], ремонт в июле.", 501),
        )),
    )  # fmt: skip
    unloaded = answer(item(3, 502, 10 * DAY, QUESTION, post=101, thread=thread(count=2)))
    results = verdicts(("100", seen), ("101", unloaded))
    assert results[r.UNANSWERED_COMMENT].status == r.FAIL  # 72 h late, whatever the other says


def test_the_recorded_answer_with_a_deleted_comment_and_unloaded_threads() -> None:
    """vknet/vk GetComments802: a deleted comment has no from_id, text or post_id; three threads
    of one reply each, none loaded; 6 comments at the level, 3 shown."""
    response = {
        "count": 3,
        "items": [
            {"id": 482124, "from_id": 287979664, "post_id": 482121, "owner_id": -69459624,
             "parents_stack": [], "date": 1553180396, "text": "Текст 1го комментария",
             "thread": thread(count=1)},
            {"id": 482127, "parents_stack": [], "date": 1553180629, "thread": thread(count=1),
             "deleted": True},
            {"id": 482418, "from_id": 197900038, "post_id": 482121, "owner_id": -69459624,
             "parents_stack": [], "date": 1553231537, "text": "Текст 3го комментария",
             "thread": thread(count=1)},
        ],
        "current_level_count": 6,
    }  # fmt: skip
    comments, threads, level = vn.comments_page(response, 69459624, "482121")
    assert [x.comment_id for x in comments] == ["482124", "482418"]
    assert threads == [482124, 482127, 482418] and level == 6
    pages = vn.CommentPages(69459624)
    pages.add(response, "482121")
    event = pages.build(REF, "s", NOW)
    assert event.partial_threads == ("482124", "482127", "482418")
    assert event.partial_posts == ("482121",)
    results = {x.rule: x for x in r.evaluate_comments(event, DEFAULT, NOW)}
    # Six years old: out of every window, and no verdict may rest on the unloaded replies.
    assert results[r.UNANSWERED_COMMENT].status == r.PASS
    assert results[r.LOW_REPLY_RATE].status == r.NOT_EVALUABLE


def test_top_level_comments_not_all_shown_make_an_unanswered_one_not_evaluable() -> None:
    """The oldest 100 of 250 top-level comments: the page's answer naming the citizen may be in
    the 150 not shown."""
    shown = [item(i, 500 + i, 10 * DAY - i * 60, QUESTION, thread=thread()) for i in range(1, 101)]
    results = verdicts(("100", answer(*shown, level=250)))
    assert statuses(results) == (r.NOT_EVALUABLE, r.NOT_EVALUABLE, r.NOT_EVALUABLE)
    # Read to the end (the collector's follow-ups): judged.
    assert statuses(verdicts(("100", answer(*shown)))) == (r.FAIL, r.FAIL, r.FAIL)


@pytest.mark.parametrize(
    ("answered", "unloaded", "status"),
    [
        (7, 2, r.FAIL),  # 7 to 9 of 12: 58–75 %, below 80 % either way
        (9, 2, r.NOT_EVALUABLE),  # 9 to 11 of 12: 75–92 %, the unloaded threads decide
        (10, 2, r.PASS),  # 10 to 12 of 12: 83–100 %
    ],
)
def test_reply_rate_with_unloaded_threads_is_judged_at_both_ends(
    answered: int, unloaded: int, status: str
) -> None:
    """The unloaded threads sit on another post than the comments judged in full."""
    judged, unread = [], []
    for i in range(12):
        if i < answered:
            replies = thread(reply(100 + i, i + 1, PAGE, 10 * DAY - H, "Ответ.", 500 + i))
            judged.append(item(i + 1, 500 + i, 10 * DAY + i, QUESTION, thread=replies))
        elif i < answered + unloaded:
            unread.append(
                item(i + 1, 500 + i, 10 * DAY, QUESTION, post=101, thread=thread(count=1))
            )
        else:
            judged.append(item(i + 1, 500 + i, 10 * DAY + i, QUESTION, thread=thread()))
    results = verdicts(("100", answer(*judged)), ("101", answer(*unread)))
    assert results[r.LOW_REPLY_RATE].status == status


def test_an_unloaded_thread_leaves_its_whole_post_open() -> None:
    """An answer naming the citizen may sit in any thread of the post, so a comment without
    replies beside an unloaded thread is not evaluable either."""
    response = answer(
        item(1, 501, 10 * DAY, QUESTION, thread=thread()),
        item(2, 502, 10 * DAY, QUESTION, thread=thread(count=3)),
    )
    results = verdicts(("100", response))
    assert results[r.UNANSWERED_COMMENT].status == r.NOT_EVALUABLE
    assert results[r.UNANSWERED_COMMENT].value == "2 не проверить"


def test_an_old_version_1_event_reads_as_fully_shown() -> None:
    event = c.CommentsObserved.create(
        observed_at=NOW, platform=c.Platform.VK, page_ref=REF, sweep_id="s", page_id=str(GID),
        comments=(
            c.Comment(comment_id="1", post_id="100", from_id="501", author_kind="citizen",
                      posted_at=NOW - timedelta(days=3)),
        ),
    )  # fmt: skip
    raw = event.to_bytes().replace(b"CommentsObserved/2", b"CommentsObserved/1")
    for key in (b',"citizen_posts":[]', b',"partial_threads":[]', b',"partial_posts":[]'):
        raw = raw.replace(key, b"")
    old = c.decode(raw)
    assert isinstance(old, c.CommentsObserved) and old.partial_threads == ()
    results = {x.rule: x for x in r.evaluate_comments(old, DEFAULT, NOW)}
    assert results[r.UNANSWERED_COMMENT].status == r.FAIL


def test_a_threads_page_saved_on_its_own_completes_the_thread() -> None:
    """``check`` with the post's answer and the thread's (``comment_id``) answer in one file: the
    thread's items name their root in ``parents_stack``, so the thread counts as loaded."""
    top = answer(item(1, 501, 10 * DAY, QUESTION, thread=thread(count=2)))
    replies = answer(
        reply(2, 1, 502, 10 * DAY - H, "[id501|Иван], и у нас.", 501),
        reply(3, 1, PAGE, 10 * DAY - 2 * H, "[id501|Иван], ремонт в июле.", 501),
    )
    assert statuses(verdicts(("100", top))) == (r.NOT_EVALUABLE,) * 3
    assert statuses(verdicts(("100", top), ("100", replies))) == (r.PASS, r.PASS, r.PASS)


def test_comments_under_a_post_of_unknown_author_are_not_evaluable_unless_answered() -> None:
    """``check`` given comments of a post its wall does not hold: it may be a citizen's post."""
    response = answer(
        item(1, 501, 10 * DAY, QUESTION, post=847, thread=thread()),
        item(2, 502, 10 * DAY, QUESTION, post=847, thread=thread()),
        item(3, PAGE, 10 * DAY - H, "[id502|Пётр], ремонт в июле.", post=847, thread=thread()),
    )
    pages = vn.CommentPages(GID)
    pages.add(response, "847")
    event = pages.build(REF, "s", NOW, unknown_posts=("847", "848"))
    assert event.unknown_posts == ("847",)  # only posts with comments are named
    results = {x.rule: x for x in r.evaluate_comments(event, DEFAULT, NOW)}
    assert results[r.UNANSWERED_COMMENT].status == r.NOT_EVALUABLE
    assert "неизвестно, чьи" in results[r.UNANSWERED_COMMENT].summary
    assert results[r.LOW_REPLY_RATE].status == r.NOT_EVALUABLE  # 1 or 2 of 2
    answered = {a.comment.comment_id: a.replied_at for a in r.event_answers(event, DEFAULT)}
    assert answered["2"] is not None and answered["1"] is None


def test_an_unloaded_thread_under_a_deleted_comment_leaves_its_post_open() -> None:
    """The deleted comment is not in the event, but its thread's replies are still unread."""
    deleted = {"id": 7, "parents_stack": [], "date": ts(10 * DAY), "deleted": True,
               "thread": thread(count=4)}  # fmt: skip
    response = answer(item(1, 501, 10 * DAY, QUESTION, thread=thread()), deleted)
    pages = vn.CommentPages(GID)
    pages.add(response, "100")
    event = pages.build(REF, "s", NOW)
    assert event.partial_threads == ("7",) and event.partial_posts == ("100",)
    results = {x.rule: x for x in r.evaluate_comments(event, DEFAULT, NOW)}
    assert results[r.UNANSWERED_COMMENT].status == r.NOT_EVALUABLE


def test_a_page_reply_to_a_reply_answers_the_whole_thread_before_it() -> None:
    """In a thread VK's ``reply_to_comment`` names the reply answered, ``parents_stack`` the
    thread: the page answering a neighbour's reply answers the question that opened it too."""
    response = answer(
        item(1, 501, 10 * DAY, QUESTION, thread=thread(
            reply(2, 1, 502, 10 * DAY - H, "[id501|Иван], и у нас.", 501),
            item(3, PAGE, 10 * DAY - 2 * H, "[id502|Пётр], ремонт в июле на обеих улицах.",
                 parents_stack=[1], reply_to_user=502, reply_to_comment=2),
        )),
    )  # fmt: skip
    assert statuses(verdicts(("100", response))) == (r.PASS, r.PASS, r.PASS)

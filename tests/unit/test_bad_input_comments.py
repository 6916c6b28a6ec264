"""Bad-input corpus for the comment path as a whole: any ``wall.getComments`` answers (top level
and thread pages, deleted comments, mentions, ``reply_to_user``, dates from 0 to VK's year 9999,
unbounded counts) through ``vk.CommentPages`` to the comment rules in working hours.

Mapping gives an event that fits the contract or ``MalformedResponse``; the rules then give a
verdict for each comment rule, quickly, whatever the dates: no OverflowError from a time zone at
the end of the calendar, no day-by-day walk over millennia.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gospublic import contracts as c
from gospublic.platforms import vk
from services.evaluator import rules as r
from services.evaluator.profiles import load_profile
from services.evaluator.workcal import WorkCalendar

CORPUS = settings(
    max_examples=200,
    deadline=None,
    database=None,  # the checkout is shared: keep no example database in it
    suppress_health_check=[HealthCheck.too_slow],
)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GID = 123
REF = c.PageRef(platform=c.Platform.VK, native_id="123", org_id="1023601000001")
STRICT = load_profile("bashkortostan-2025")  # SLAs in working hours
CALENDAR = WorkCalendar()

dates = st.sampled_from([0, 1, 253402297200, 253402300799, int(NOW.timestamp())]) | st.integers(
    min_value=0, max_value=253402300799
)
ids = st.integers(min_value=1, max_value=60)
authors = st.sampled_from([-GID, 501, 502, -220870455]) | st.integers(-(2**40), 2**40)
counts = st.integers(min_value=0, max_value=30) | st.sampled_from([2**31, 2**62, 10**12])
texts = st.sampled_from(
    ["", "Вопрос", "[id501|Иван], ответ", "[club5|Школа], привет", "[id502:bp-1_2|Пётр], да",
     "[id99999999999999999999999|x]", "[id|пусто]"]
)  # fmt: skip


def comment(stack: st.SearchStrategy) -> st.SearchStrategy[dict]:
    base = st.fixed_dictionaries(
        {"id": ids, "date": dates, "parents_stack": stack},
        optional={
            "from_id": authors,
            "text": texts,
            "reply_to_user": authors,
            "reply_to_comment": ids,
            "deleted": st.sampled_from([True, 1, False]),
        },
    )
    return base.map(lambda d: d if "from_id" in d or d.get("deleted") else {**d, "from_id": 501})


replies = comment(ids.map(lambda i: [i]))
top_level = st.builds(
    lambda item, count, items: {**item, "thread": {"count": count, "items": items}},
    comment(st.just([])),
    counts,
    st.lists(replies, max_size=3),
)
answers = st.builds(
    lambda items, level: {"count": len(items), "items": items, "current_level_count": level},
    st.lists(top_level | replies, max_size=5),
    counts,
)


@CORPUS
@given(st.lists(st.tuples(st.sampled_from(["1", "2"]), answers), min_size=1, max_size=3))
def test_any_comment_answers_give_verdicts_quickly(pages: list[tuple[str, dict]]) -> None:
    book = vk.CommentPages(GID)
    try:
        for post, answer in pages:
            book.add(answer, post, asked=100)
        event = book.build(REF, "s", NOW, citizen_posts=("2",))
    except vk.MalformedResponse as exc:
        assert exc.reason.strip()
        return
    assert c.decode(event.to_bytes()) == event
    results = {x.rule: x for x in r.evaluate_comments(event, STRICT, NOW, CALENDAR)}
    assert set(results) == set(r.COMMENT_RULES)
    assert all(x.status in (r.PASS, r.FAIL, r.NOT_EVALUABLE) for x in results.values())
    score = r.response_score(event, STRICT, NOW, CALENDAR)
    assert score is None or 0.0 <= score <= 1.0

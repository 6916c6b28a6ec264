"""The rules the ground truth covers and the thresholds of the ``dialog-default`` profile.

The simulator judges its planted world with these numbers on its own, apart from the evaluator, so
a comparison of the two tests both. Also the timing of what the clock brings after the epoch.
"""

FIRST_GROUP_ID = 210_000_000
DAY_S = 86_400
RULES = (
    "PAGE_MISSING_ANY",
    "ORG_EXEMPT",
    "OFF_LIST_ONLY",
    "PAGE_NOT_PUBLIC",
    "DESCRIPTION_MISSING",
    "CONTACT_PHONE_MISSING",
    "WALL_CLOSED",
    "STALE",
    "LOW_FREQUENCY",
    "UNANSWERED_COMMENT",
    "UNANSWERED_COMMENT_SOON",
    "LOW_REPLY_RATE",
    "WIDGETS_MISSING",
    "WIDGET_FOREIGN_ORG",
    "NOT_VERIFIED",
)
# The rules the ground truth covers on MAX channels, compared apart from the rest: PAGE_NOT_CONNECTED
# (the bot is not in the channel), STALE (stale and empty channels) and COPIED_CONTENT (channels
# copying the organisation's VK page; a copy of Telegram, which the demo does not read, is not
# one). A channel's description, frequency and comments are drawn but not planted as cases, so
# MAX's other verdicts are not compared.
MAX_RULES = ("PAGE_NOT_CONNECTED", "STALE", "COPIED_CONTENT")
NOT_CONNECTED_SEVERITY = "medium"  # PAGE_NOT_CONNECTED in dialog-default
COPIED_SEVERITY = "low"  # COPIED_CONTENT in dialog-default
COPIED_WINDOW_DAYS = 28  # COPIED_CONTENT: the own posts of the last four weeks
COPIED_MIN_TEXT = 20  # a normalised text shorter than this tells nothing of where it came from
# Thresholds of the ``dialog-default`` profile; the ground truth is computed for that profile.
STALE_THRESHOLDS_DAYS = (7, 30, 90)
FREQUENCY_MIN_PER_WEEK = 3  # own posts a week, counted over FREQUENCY_WEEKS
FREQUENCY_WEEKS = 4
# Share of the posting pages (``_POSTING_KINDS``) that post too rarely: an own post every 3.5–7
# days, at most 8 in the window (the floor is 12). The others post every 0.25–1.2 days, at least
# 16 own posts among the 20 the platform returns, all inside the window.
LOW_FREQUENCY_RATE = 0.2
REPLY_SLA_HOURS = 24  # UNANSWERED_COMMENT: wall-clock hours for the page's first reply
REPLY_WARNING_SHARE = 0.75  # UNANSWERED_COMMENT_SOON: warned from this share of the SLA on
REPLY_WINDOW_DAYS = 30  # citizen comments older than this are not judged
REPLY_RATE_MIN = 0.8  # LOW_REPLY_RATE: share of citizen comments answered within ...
REPLY_RATE_DAYS = 7  # ... this many days; a younger unanswered one is not judged yet
# Ages (seconds, at the epoch) no citizen comment comes closer to than two hours: the reply SLA,
# the start of its warning, the edge of its window and the reply-rate allowance, so a run taking
# minutes flips no verdict.
_COMMENT_CLEARANCES = tuple(
    (t, 2 * 3600)
    for t in (
        REPLY_SLA_HOURS * 3600,
        int(REPLY_SLA_HOURS * REPLY_WARNING_SHARE * 3600),  # VK dates are whole seconds
        REPLY_WINDOW_DAYS * DAY_S,
        REPLY_RATE_DAYS * DAY_S,
    )
)
UPCOMING_DAYS = 30  # how far past the epoch active pages keep posting
# What else the clock brings within UPCOMING_DAYS of the epoch, per page or post. Rare enough to
# leave a sweep's picture mostly as it was, common enough that a test region of a hundred pages
# sees each of them within a week or two.
PAGE_DELETED_RATE = 0.02
PAGE_CLOSED_RATE = 0.02
POST_DELETED_RATE = 0.03
# Pages whose description is removed at a seeded time after the epoch (a profile edit): the
# description, and with it whatever it held (a phone, an address), is gone from then on.
PROFILE_EDIT_RATE = 0.03
# Page replies by kind: (share of citizen comments answered, reply delay from–to in hours). A
# page that answered a comment answers the citizen's follow-up in the thread the same way, so a
# prompt page keeps every reply within hours (well inside the 24-hour SLA) and the slow and silent
# pages, about a third, are the UNANSWERED_COMMENT cases.
_REPLY_KINDS = {"prompt": (1.0, 0.3, 6.0), "slow": (0.8, 26.0, 72.0), "never": (0.05, 30.0, 90.0)}
# Wall kinds whose pages keep posting after the epoch (their STALE verdict stays "pass").
_POSTING_KINDS = frozenset({"active", "pinned_old_fresh"})
# Comment shapes of real pages: a thread where neighbours join before the page answers, longer
# than the 10 replies a first read shows (share of answered questions, replies in it); a comment
# by another community (share of commented posts; its ids start here, clear of the region's).
_LONG_THREAD_RATE = 0.05
_LONG_THREAD_REPLIES = 12
_COMMUNITY_COMMENT_RATE = 0.08
_COMMUNITY_IDS = 300_000_000
DESCRIPTION_MIN_CHARS = 50
WALL_WINDOW = 20


def _after_epoch(u: float) -> int:
    """Seconds after the epoch for a fraction ``u``: from six hours to UPCOMING_DAYS, so the
    world at the epoch (the first sweep, the demo) is exactly the one generated."""
    return int((0.25 + u * (UPCOMING_DAYS - 0.25)) * DAY_S)

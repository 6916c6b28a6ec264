"""Working time: office hours on working days, in the organisation's time zone.

Working days come from the maintained ``holidays`` package (Russian public holidays, the days off
moved by government decree, and the Saturdays made working days in exchange), not from a list kept
here. A reply SLA "within 8 working hours" counts only time inside office hours on working days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DEFAULT_TIMEZONE = "Europe/Moscow"
_DAY = timedelta(days=1)
# Working time is counted over at most two years: a longer wait counts as two years of working
# hours, far past any SLA a profile can set (their windows stop at a year). Without the bound a
# garbled date (VK's year 9999) would walk the calendar day by day over millennia.
HORIZON = timedelta(days=731)
# Moments are kept a day inside what ``datetime`` holds, so no time zone moves them out of it.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)
_CACHED_DAYS = 50_000


class CalendarError(ValueError):
    pass


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"unknown time zone {name!r}") from None


class WorkCalendar:
    """Office hours ``start``–``end`` on the working days of ``country`` (default: Russia)."""

    def __init__(
        self,
        start: time = time(9, 0),
        end: time = time(18, 0),
        country: str = "RU",
    ) -> None:
        if not start < end:
            raise CalendarError(f"office hours must start before they end: {start}–{end}")
        self.start = start
        self.end = end
        try:
            self._holidays = holidays.country_holidays(country)
        except NotImplementedError:
            raise CalendarError(f"no holiday calendar for country {country!r}") from None
        self._working: dict[date, bool] = {}

    @property
    def hours_per_day(self) -> float:
        return (_seconds(self.end) - _seconds(self.start)) / 3600

    def is_working_day(self, day: date) -> bool:
        known = self._working.get(day)
        if known is None:
            if len(self._working) >= _CACHED_DAYS:  # a long-running evaluator sees odd dates too
                self._working.clear()
            known = self._working[day] = bool(self._holidays.is_working_day(day))
        return known

    def working_seconds(
        self, since: datetime, until: datetime, tz: str = DEFAULT_TIMEZONE
    ) -> float:
        """Office-hours seconds in [since, until), counted in the time zone ``tz``, over at most
        ``HORIZON`` from ``since``."""
        if until <= since:
            return 0.0
        since, until = _clamp(since), _clamp(until)
        if until - since > HORIZON:
            until = since + HORIZON
        zone = _zone(tz)
        a, b = _local(since, zone), _local(until, zone)
        total = 0.0
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                open_at = datetime.combine(day, self.start)
                close_at = datetime.combine(day, self.end)
                lo, hi = max(a, open_at), min(b, close_at)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += _DAY
        return total

    def working_hours(self, since: datetime, until: datetime, tz: str = DEFAULT_TIMEZONE) -> float:
        return self.working_seconds(since, until, tz) / 3600


def elapsed_hours(
    since: datetime,
    until: datetime,
    calendar: WorkCalendar | None,
    tz: str = DEFAULT_TIMEZONE,
) -> float:
    """Hours between two moments: working hours with a calendar, wall-clock hours without."""
    if calendar is not None:
        return calendar.working_hours(since, until, tz)
    return max(0.0, (until - since).total_seconds() / 3600)


def _clamp(moment: datetime) -> datetime:
    """The moment, aware, moved inside [_EARLIEST, _LATEST]."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(max(moment, _EARLIEST), _LATEST)


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """Naive local wall time; a naive input is taken as UTC, as the contracts' times are."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).replace(tzinfo=None)


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second

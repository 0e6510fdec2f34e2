"""From local wall-clock rules to real instants."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from scheduling.engine.intervals import merge
from scheduling.engine.types import Interval, ProviderSpec

UTC = dt.UTC


def days(date_from: dt.date, date_to: dt.date) -> Iterator[dt.date]:
    """Every date from ``date_from`` to ``date_to``, inclusive."""
    day = date_from
    while day <= date_to:
        yield day
        day += dt.timedelta(days=1)


def instant(day: dt.date, clock: dt.time, tz: ZoneInfo) -> dt.datetime:
    """The real instant (in UTC) at which local ``clock`` on ``day`` happens.

    A wall-clock time that is skipped when clocks spring forward is read with the offset
    in force before the change; one that occurs twice in autumn means its first occurrence
    (``fold=0``), as PEP 495 defines.
    """
    return dt.datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return instant(day, dt.time(0, 0), tz)


def working_windows(provider: ProviderSpec, day: dt.date, tz: ZoneInfo) -> list[Interval]:
    """The provider's windows on ``day`` as real intervals, sorted and disjoint.

    On a DST day a window keeps its wall-clock ends, so it has its real length:
    01:00-04:00 in Berlin on the last Sunday of March lasts two hours, not three.

    Windows that overlap or touch are one stretch of work and become one window (08-10
    and 09-11 are 08-11; 08-10 and 10-12 are 08-12, with no break at 10:00). The database
    refuses overlapping hours, but a snapshot built any other way must not make the
    search offer one start twice.
    """
    spans = []
    for start, end in provider.weekly_hours.get(day.weekday(), ()):
        real_start, real_end = instant(day, start, tz), instant(day, end, tz)
        if real_end > real_start:
            spans.append((real_start, real_end))
    return [Interval(start, end) for start, end in merge(spans)]


def local_date(moment: dt.datetime, tz: ZoneInfo) -> dt.date:
    return moment.astimezone(tz).date()


def local_iso(moment: dt.datetime, tz: ZoneInfo) -> str:
    """``2027-03-08T09:00:00+01:00``: the clinic's wall clock with the offset in force."""
    return moment.astimezone(tz).isoformat(timespec="seconds")

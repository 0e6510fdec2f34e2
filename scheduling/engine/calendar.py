"""From local wall-clock rules to real instants."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

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
    """The provider's windows on ``day`` as real intervals.

    On a DST day a window keeps its wall-clock ends, so it has its real length:
    01:00-04:00 in Berlin on the last Sunday of March lasts two hours, not three.
    """
    windows = []
    for start, end in provider.weekly_hours.get(day.weekday(), ()):
        window = Interval(instant(day, start, tz), instant(day, end, tz))
        if window.end > window.start:
            windows.append(window)
    return windows


def local_date(moment: dt.datetime, tz: ZoneInfo) -> dt.date:
    return moment.astimezone(tz).date()


def local_iso(moment: dt.datetime, tz: ZoneInfo) -> str:
    """``2027-03-08T09:00:00+01:00``: the clinic's wall clock with the offset in force."""
    return moment.astimezone(tz).isoformat(timespec="seconds")

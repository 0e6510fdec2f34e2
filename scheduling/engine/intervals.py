"""Fast questions about sorted, non-overlapping intervals.

The database guarantees that the active bookings on one provider seat (or one room seat,
or one patient) never overlap, so sorted by start they are also sorted by end, and
"does anything overlap [a, b)?" is one binary search.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable

from scheduling.engine.types import Interval


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of possibly overlapping intervals, sorted and non-overlapping."""
    merged: list[Interval] = []
    for current in sorted(intervals):
        if merged and current.start <= merged[-1].end:
            if current.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, current.end)
        else:
            merged.append(current)
    return merged


class Timeline:
    """Sorted non-overlapping busy intervals, with overlap and neighbour look-ups."""

    __slots__ = ("intervals", "_ends", "_starts")

    def __init__(self, intervals: Iterable[Interval], *, already_disjoint: bool = False):
        self.intervals = sorted(intervals) if already_disjoint else merge(intervals)
        self._starts = [i.start for i in self.intervals]
        self._ends = [i.end for i in self.intervals]

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        # The first interval that ends after `start` is the only candidate.
        index = bisect.bisect_right(self._ends, start)
        return index < len(self.intervals) and self._starts[index] < end

    def free_span(
        self, start: dt.datetime, end: dt.datetime
    ) -> tuple[dt.datetime | None, dt.datetime | None]:
        """For a free ``[start, end)``: the end of the busy interval before it and the
        start of the one after it (None where there is none)."""
        before = bisect.bisect_right(self._ends, start) - 1
        after = bisect.bisect_left(self._starts, end)
        return (
            self._ends[before] if before >= 0 else None,
            self._starts[after] if after < len(self.intervals) else None,
        )

    def __bool__(self) -> bool:
        return bool(self.intervals)

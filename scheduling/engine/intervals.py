"""Fast questions about sorted, non-overlapping spans of time.

A span is a ``(start, end)`` pair of aware datetimes, half-open. The database guarantees
that the active bookings on one provider seat (or one room seat, or one patient) never
overlap, so sorted by start they are also sorted by end, and "does anything overlap
[a, b)?" is one binary search.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable

Span = tuple[dt.datetime, dt.datetime]


def merge(spans: Iterable[Span]) -> list[Span]:
    """Union of possibly overlapping spans, sorted and non-overlapping."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def subtract(spans: list[Span], holes: list[Span]) -> list[Span]:
    """``spans`` minus ``holes``; both sorted and non-overlapping."""
    remaining: list[Span] = []
    for start, end in spans:
        cursor = start
        for hole_start, hole_end in holes:
            if hole_end <= cursor or hole_start >= end:
                continue
            if hole_start > cursor:
                remaining.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
        if cursor < end:
            remaining.append((cursor, end))
    return remaining


class Timeline:
    """Sorted non-overlapping busy spans, with overlap and neighbour look-ups."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, spans: Iterable[Span]):
        # Merging costs little and keeps the engine right even on a snapshot that was
        # assembled by hand rather than read from the constrained database.
        merged = merge(spans)
        self._starts = [start for start, _ in merged]
        self._ends = [end for _, end in merged]

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        # The first span that ends after `start` is the only candidate.
        index = bisect.bisect_right(self._ends, start)
        return index < len(self._starts) and self._starts[index] < end

    def free_span(
        self, start: dt.datetime, end: dt.datetime
    ) -> tuple[dt.datetime | None, dt.datetime | None]:
        """For a free ``[start, end)``: the end of the busy span before it and the start
        of the one after it (None where there is none)."""
        before = bisect.bisect_right(self._ends, start) - 1
        after = bisect.bisect_left(self._starts, end)
        return (
            self._ends[before] if before >= 0 else None,
            self._starts[after] if after < len(self._starts) else None,
        )


EMPTY = Timeline(())

"""Fast questions about sorted, non-overlapping spans of time.

A span is a ``(start, end)`` pair, half-open: integers (microseconds) in the search,
aware datetimes where working windows are built. The database guarantees
that the active bookings on one provider seat (or one room seat, or one patient) never
overlap, so sorted by start they are also sorted by end, and "does anything overlap
[a, b)?" is one binary search.
"""

from __future__ import annotations

import bisect
import datetime as dt
import operator
from collections.abc import Iterable
from typing import TypeVar

Span = tuple[dt.datetime, dt.datetime]
# The search's spans: microseconds since the epoch (see search.py).
MicroSpan = tuple[int, int]
T = TypeVar("T", int, dt.datetime)


def merge(spans: Iterable[tuple[T, T]]) -> list[tuple[T, T]]:
    """Union of possibly overlapping spans, sorted and non-overlapping."""
    merged: list[tuple[T, T]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def subtract(spans: list[tuple[T, T]], holes: list[tuple[T, T]]) -> list[tuple[T, T]]:
    """``spans`` minus ``holes``; both sorted and non-overlapping."""
    remaining: list[tuple[T, T]] = []
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

    __slots__ = ("ends", "starts")

    def __init__(self, spans: Iterable[MicroSpan]):
        ordered = sorted(spans)
        # Read directly by the search, which bisects them itself.
        self.starts = [start for start, _ in ordered]
        self.ends = [end for _, end in ordered]
        # The database never stores overlapping spans on one seat, so this check (at C
        # speed) almost always passes; merging keeps the engine right on a snapshot that
        # was assembled by hand rather than read from the constrained database.
        if not all(map(operator.le, self.ends[:-1], self.starts[1:])):
            merged = merge(ordered)
            self.starts = [start for start, _ in merged]
            self.ends = [end for _, end in merged]

    def overlaps(self, start: int, end: int) -> bool:
        # The first span that ends after `start` is the only candidate.
        index = bisect.bisect_right(self.ends, start)
        return index < len(self.starts) and self.starts[index] < end

    def free_span(self, start: int, end: int) -> tuple[int | None, int | None]:
        """For a free ``[start, end)``: the end of the busy span before it and the start
        of the one after it (None where there is none)."""
        before = bisect.bisect_right(self.ends, start) - 1
        after = bisect.bisect_left(self.starts, end)
        return (
            self.ends[before] if before >= 0 else None,
            self.starts[after] if after < len(self.starts) else None,
        )


EMPTY = Timeline(())

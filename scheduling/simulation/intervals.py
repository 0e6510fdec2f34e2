"""Minute arithmetic on sets of ``[start, end)`` spans, for the simulator's accounting:
the engine's merge and difference (``scheduling.engine.intervals``), and what only the
accounting needs, intersection and length in minutes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from scheduling.engine.intervals import merge, subtract

__all__ = ["Span", "intersect", "minutes", "subtract", "union"]

Span = tuple[dt.datetime, dt.datetime]


def union(spans: Iterable[Span]) -> list[Span]:
    """The spans merged into disjoint, sorted ones (touching spans become one; empty ones
    are dropped)."""
    return merge(s for s in spans if s[1] > s[0])


def intersect(a: list[Span], b: list[Span]) -> list[Span]:
    """Where two disjoint, sorted span lists overlap."""
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def minutes(spans: Iterable[Span]) -> float:
    """Total length in minutes (the spans must not overlap, or overlaps count twice)."""
    return sum((end - start).total_seconds() for start, end in spans) / 60

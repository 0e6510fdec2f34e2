"""Minute arithmetic on sets of ``[start, end)`` spans, for the simulator's accounting.

The engine has its own interval helpers, but they are its internals (being rewritten for
speed); the accounting needs only union, intersection and difference measured in minutes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

Span = tuple[dt.datetime, dt.datetime]


def union(spans: Iterable[Span]) -> list[Span]:
    """The spans merged into disjoint, sorted ones (touching spans become one)."""
    merged: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


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


def subtract(a: list[Span], b: list[Span]) -> list[Span]:
    """The parts of ``a`` outside ``b`` (both disjoint and sorted)."""
    out: list[Span] = []
    j = 0
    for start, end in a:
        cursor = start
        while j < len(b) and b[j][1] <= cursor:
            j += 1
        k = j
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cursor:
                out.append((cursor, b[k][0]))
            cursor = max(cursor, b[k][1])
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


def minutes(spans: Iterable[Span]) -> float:
    """Total length in minutes (the spans must not overlap, or overlaps count twice)."""
    return sum((end - start).total_seconds() for start, end in spans) / 60

"""A working window's starts as the bits of one integer: bit ``i`` is the start
``first + i * step``.

The search asks the same questions of every start in a window: is it past the notice, is
the provider free, off, is the patient free, is some room free? Asked of a whole window at
once, with bitwise operations on Python integers, they cost a few operations per booking
in the window instead of a few binary searches per start. Instants are microseconds since
the epoch, as everywhere in the search.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from typing import NamedTuple

from scheduling.engine.intervals import Timeline


class Grid(NamedTuple):
    first: int  # the first start
    step: int
    size: int  # how many starts

    @property
    def full(self) -> int:
        return (1 << self.size) - 1

    def start(self, i: int) -> int:
        return self.first + i * self.step

    def index_from(self, moment: int) -> int:
        """The index of the first start at or after ``moment`` (may lie outside the grid)."""
        return -((self.first - moment) // self.step)

    def index_through(self, moment: int) -> int:
        """The index of the last start at or before ``moment`` (may lie outside the grid)."""
        return (moment - self.first) // self.step

    def span(self, lo: int, hi: int) -> int:
        """The starts ``lo`` to ``hi``, both included, clipped to the grid."""
        lo, hi = max(lo, 0), min(hi, self.size - 1)
        return ((1 << (hi - lo + 1)) - 1) << lo if hi >= lo else 0

    def held(self, timeline: Timeline, before: int, length: int) -> int:
        """The starts whose range ``[start - before, start + length)`` overlaps a span of
        ``timeline``: a start overlaps ``[s, e)`` when ``s - length < start < e + before``."""
        starts, ends = timeline.starts, timeline.ends
        first, step, size = self
        last = first + (size - 1) * step + length
        mask = 0
        i = bisect_right(ends, first - before)
        # Inlined index_through/index_from/span: this loop runs for every booking the
        # search looks at.
        while i < len(starts) and starts[i] < last:
            lo = max((starts[i] - length - first) // step + 1, 0)
            hi = min(-((first - ends[i] - before) // step), size)  # one past the last start held
            if hi > lo:
                mask |= ((1 << (hi - lo)) - 1) << lo
            i += 1
        return mask


def indices(mask: int) -> Iterator[int]:
    """The set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low

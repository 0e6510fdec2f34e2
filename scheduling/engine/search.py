"""Slot search and the single-slot check, over one snapshot.

Both walk the same rules in the same order, so what ``find_slots`` offers is exactly what
``check_slot`` accepts:

1. the provider may perform the type, the room has the equipment;
2. the start is not in the past, gives the minimum notice, lies within the horizon;
3. the day is not a closure; the blocked range ``[start - buffer_before, end + buffer_after)``
   lies inside one working window, and the start is on that window's grid;
4. no time off overlaps the blocked range; the patient is free over ``[start, end)``;
5. seat 0 of the provider and of a room is free over the blocked range: a regular slot;
   or else, where the provider's seat 0 is taken and an overbooking rule allows it, the
   lowest seat k (1..max_extra) free on the provider and on a room: an overbooking slot.
"""

from __future__ import annotations

import datetime as dt
import heapq
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from scheduling.engine import scoring
from scheduling.engine.calendar import days, local_date, local_midnight, working_windows
from scheduling.engine.grid import Grid, indices
from scheduling.engine.intervals import EMPTY, MicroSpan, Timeline
from scheduling.engine.rules import max_extra_seats
from scheduling.engine.types import (
    Factors,
    ProviderSpec,
    SearchResult,
    Slot,
    SlotQuery,
    Snapshot,
    instant_of,
    micros,
)


@dataclass(frozen=True)
class Verdict:
    """The answer to "may this exact slot be booked?".

    ``reason`` is set when the engine would never offer it (a 422 `slot_unavailable`);
    ``conflict`` (``provider``, ``room`` or ``patient``) when another booking holds it
    (a 409 `slot_taken`). ``seat`` is the seat to book when it is accepted.
    """

    ok: bool
    seat: int = 0
    reason: str | None = None
    conflict: str | None = None
    message: str = ""
    slot: Slot | None = None


def _reject(reason: str, message: str) -> Verdict:
    return Verdict(ok=False, reason=reason, message=message)


def _taken(conflict: str, message: str) -> Verdict:
    return Verdict(ok=False, conflict=conflict, message=message)


# Inside the search every instant is an integer: microseconds since the Unix epoch (as
# bookings already are). Integers compare and subtract several times faster than aware
# datetimes, which consult their tzinfo on every comparison and hash, and the search does
# both for every candidate start. The answers convert back; microseconds keep every
# instant exact.


def _minutes(n: int) -> int:
    return n * 60_000_000


class _Candidate(NamedTuple):
    """A valid slot before it is explained. The first four fields are the ranking key
    (regular before overbooking, score descending, start, provider), unique per candidate,
    so candidates sort as plain tuples."""

    overbook: bool
    minus_score: float
    start: int
    provider: str
    room: str
    seat: int
    window: tuple[int, int]
    neighbours: tuple[str, ...]


class _Index:
    """The snapshot's bookings arranged for one query: a timeline per seat, in microseconds."""

    def __init__(self, snapshot: Snapshot, query: SlotQuery):
        provider_seats: dict[tuple[str, int], list[MicroSpan]] = defaultdict(list)
        room_seats: dict[tuple[str, int], list[MicroSpan]] = defaultdict(list)
        regular: dict[str, list[tuple[int, int, str, int]]] = defaultdict(list)
        patient_spans: list[MicroSpan] = []
        for b in snapshot.bookings:
            blocked = (b.blocked_start, b.blocked_end)
            provider_seats[b.provider, b.seat].append(blocked)
            room_seats[b.room, b.seat].append(blocked)
            if b.seat == 0:
                regular[b.provider].append((*blocked, b.room, b.start))
            if query.patient is not None and b.patient == query.patient:
                patient_spans.append((b.start, b.end))
        self.provider_seats = {key: Timeline(spans) for key, spans in provider_seats.items()}
        self.room_seats = {key: Timeline(spans) for key, spans in room_seats.items()}
        self.patient = Timeline(patient_spans)
        time_off = {
            p.code: [(micros(t.start), micros(t.end)) for t in p.time_off] for p in snapshot.providers
        }
        self.time_off = {code: Timeline(spans) for code, spans in time_off.items()}
        # Each provider's regular bookings in order, for the neighbours of a slot: blocked
        # starts and ends to search, rooms and starts (for the local day) to read.
        self.regular: dict[str, tuple[list[int], list[int], list[str], list[int]]] = {}
        for code, rows in regular.items():
            rows.sort()
            self.regular[code] = (
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                [r[3] for r in rows],
            )
        # What a slot's compactness is measured against: booked seat-0 time and time off.
        # (Without time off, that is the seat-0 timeline itself.)
        self.busy = {
            code: Timeline([(r[0], r[1]) for r in regular.get(code, ())] + spans)
            if spans
            else self.provider_seats.get((code, 0), EMPTY)
            for code, spans in time_off.items()
        }

    def provider_free(self, provider: str, seat: int, start: int, end: int) -> bool:
        return not self.provider_seats.get((provider, seat), EMPTY).overlaps(start, end)

    def room_free(self, room: str, seat: int, start: int, end: int) -> bool:
        return not self.room_seats.get((room, seat), EMPTY).overlaps(start, end)

    def neighbour_rooms(self, provider: str, start: int, end: int, day: tuple[int, int]) -> tuple[str, ...]:
        """Rooms of the provider's regular bookings just before and just after the blocked
        ``[start, end)``, among those starting on the same local ``day`` (its bounds)."""
        found = self.regular.get(provider)
        if found is None:
            return ()
        starts, ends, rooms, booking_starts = found
        day_start, day_end = day
        before = bisect_right(ends, start) - 1
        after = bisect_left(starts, end)
        neighbours: tuple[str, ...] = ()
        if before >= 0 and day_start <= booking_starts[before] < day_end:
            neighbours = (rooms[before],)
        if after < len(rooms) and day_start <= booking_starts[after] < day_end:
            neighbours = (*neighbours, rooms[after])
        return neighbours


class _Search:
    def __init__(self, snapshot: Snapshot, query: SlotQuery):
        self.snapshot = snapshot
        self.query = query
        self.rules = snapshot.rules
        self.type = query.appointment_type
        self.index = _Index(snapshot, query)
        self.duration = _minutes(self.type.duration_minutes)
        self.duration_delta = dt.timedelta(minutes=self.type.duration_minutes)
        self.before = _minutes(self.type.buffer_before_minutes)
        self.after = _minutes(self.type.buffer_after_minutes)
        self.step = _minutes(self.rules.slot_minutes)
        self.shortest = _minutes(snapshot.shortest_type_minutes)
        self.earliest = micros(snapshot.now) + _minutes(self.rules.min_notice_minutes)
        today = local_date(snapshot.now, self.rules.tz)
        self.last_day = today + dt.timedelta(days=self.rules.booking_horizon_days)
        # Rooms that have the equipment, the best candidates first: fewest unneeded
        # machines (keep the ECG room free for ECGs), then by code.
        self.rooms = [
            r.code
            for r in sorted(
                (r for r in snapshot.rooms if self.type.required_equipment <= r.equipment),
                key=lambda r: (len(r.equipment - self.type.required_equipment), r.code),
            )
        ]
        self.room_codes = set(self.rooms)
        # The first free room in that order depends only on the seat and the time, not on
        # the provider: providers sharing a grid share the answer.
        self._first_free_room: dict[tuple[int, int, int], str | None] = {}
        self._room_free: dict[tuple[Grid, int, str | None], int] = {}

    def day_bounds(self, day: dt.date) -> tuple[int, int]:
        tz = self.rules.tz
        return micros(local_midnight(day, tz)), micros(local_midnight(day + dt.timedelta(days=1), tz))

    def windows(self, provider: ProviderSpec, day: dt.date) -> list[tuple[int, int]]:
        return [(micros(w.start), micros(w.end)) for w in working_windows(provider, day, self.rules.tz)]

    def grid(self, window: tuple[int, int]) -> range:
        """Starts on the window's grid whose blocked range fits inside the window."""
        window_start, window_end = window
        # The first grid start whose buffer before still lies inside the window.
        first = window_start + -(-self.before // self.step) * self.step
        last = window_end - self.duration - self.after
        return range(first, last + 1, self.step)

    def pick_room(self, seat: int, start: int, end: int, neighbours: tuple[str, ...]) -> str | None:
        """The best free room at this seat over the blocked ``[start, end)``: the one the
        provider is in next to it, else the first free one in preference order."""
        room_seats = self.index.room_seats
        # The room of the booking before, then of the one after (both, when they agree).
        for room in dict.fromkeys(neighbours):
            if room in self.room_codes:
                held = room_seats.get((room, seat))
                if held is None:
                    return room
                i = bisect_right(held.ends, start)
                if i == len(held.starts) or held.starts[i] >= end:
                    return room
        key = (seat, start, end)
        if key not in self._first_free_room:
            self._first_free_room[key] = next(
                (room for room in self.rooms if self.index.room_free(room, seat, start, end)), None
            )
        return self._first_free_room[key]

    def factors(
        self,
        provider: str,
        room: str,
        seat: int,
        start: int,
        window: tuple[int, int],
        neighbours: tuple[str, ...],
        words: list[str] | None = None,
    ) -> tuple[float, float, float, float]:
        end = start + self.duration
        if self.query.preferences.stated:
            preference = scoring.preference(
                self.query.preferences, provider, instant_of(start), instant_of(end), self.rules.tz, words
            )
        else:
            preference = scoring.NEUTRAL
        if seat == 0:
            window_start, window_end = window
            blocked_start, blocked_end = start - self.before, end + self.after
            prev_end, next_start = self.index.busy[provider].free_span(blocked_start, blocked_end)
            left = window_start if prev_end is None else max(prev_end, window_start)
            right = window_end if next_start is None else min(next_start, window_end)
            compactness = scoring.compactness(
                blocked_start - left,
                right - blocked_end,
                before_is_booking=left > window_start,
                after_is_booking=right < window_end,
                shortest=self.shortest,
                words=words,
            )
        else:
            compactness = scoring.NEUTRAL
        room_switch = scoring.room_switch(room, neighbours, words)
        overbooking = scoring.overbooking(seat, words)
        return preference, compactness, room_switch, overbooking

    def candidate(
        self,
        provider: str,
        room: str,
        seat: int,
        start: int,
        window: tuple[int, int],
        neighbours: tuple[str, ...],
    ) -> _Candidate:
        score = scoring.weighted(
            self.rules.weights, *self.factors(provider, room, seat, start, window, neighbours)
        )
        return _Candidate(seat > 0, -score, start, provider, room, seat, window, neighbours)

    def explain(self, c: _Candidate) -> Slot:
        words: list[str] = []
        preference, compactness, room_switch, overbooking = self.factors(
            c.provider, c.room, c.seat, c.start, c.window, c.neighbours, words
        )
        start = instant_of(c.start)
        return Slot(
            start,
            start + self.duration_delta,
            c.provider,
            c.room,
            c.seat,
            -c.minus_score,
            Factors(
                round(preference, 4), round(compactness, 4), round(room_switch, 4), round(overbooking, 4)
            ),
            tuple(words),
        )

    # --- Candidates by window: the grid's bits (scheduling/engine/grid.py) -----------------

    def grid_of(self, window: tuple[int, int]) -> Grid:
        starts = self.grid(window)
        return Grid(starts.start, self.step, len(starts))

    def room_free(self, grid: Grid, seat: int, room: str) -> int:
        """The grid's starts at which ``room`` is free at ``seat``; kept per grid, since
        providers with the same hours share it."""
        key = (grid, seat, room)
        if key not in self._room_free:
            held = self.index.room_seats.get((room, seat), EMPTY)
            self._room_free[key] = grid.full & ~grid.held(held, self.before, self.after + self.duration)
        return self._room_free[key]

    def any_room_free(self, grid: Grid, seat: int) -> int:
        key = (grid, seat, None)
        if key not in self._room_free:
            free = 0
            for room in self.rooms:
                free |= self.room_free(grid, seat, room)
                if free == grid.full:
                    break
            self._room_free[key] = free
        return self._room_free[key]

    def preference_of(self, provider: str, start: int) -> float:
        preferences = self.query.preferences
        if not preferences.stated:
            return scoring.NEUTRAL
        return scoring.preference(
            preferences, provider, instant_of(start), instant_of(start + self.duration), self.rules.tz
        )

    def window_candidates(
        self, provider: str, window: tuple[int, int], day: tuple[int, int], max_extra: int
    ) -> tuple[list[_Class], list[_Extra], int]:
        """One window's candidates, the rules of the module's docstring asked of all its
        starts at once: the regular ones in classes of equal score, the overbooking ones by
        seat (scored only if they are reached, see ``find``), and how many there are."""
        grid = self.grid_of(window)
        if grid.size <= 0:
            return [], [], 0
        index, before, length = self.index, self.before, self.duration + self.after
        valid = grid.full & ~grid.span(0, grid.index_from(self.earliest) - 1)
        valid &= ~grid.held(index.time_off[provider], before, length)
        if index.patient.starts:
            valid &= ~grid.held(index.patient, 0, self.duration)
        seats = [index.provider_seats.get((provider, seat), EMPTY) for seat in range(max_extra + 1)]
        provider_free = grid.full & ~grid.held(seats[0], before, length)
        # A regular seat when the provider's seat 0 is free and a room is (a free provider
        # with no free room is not an overbooking case); otherwise the lowest seat
        # 1..max_extra free on the provider and on a room.
        regular = valid & provider_free & self.any_room_free(grid, 0)
        waiting = valid & ~provider_free
        extra = []
        for seat in range(1, max_extra + 1):
            free = waiting & ~grid.held(seats[seat], before, length) & self.any_room_free(grid, seat)
            if free:
                extra.append(_Extra(seat, free, grid, provider, window, day))
                waiting &= ~free
        count = regular.bit_count() + sum(e.starts.bit_count() for e in extra)
        return self.regular_classes(provider, grid, window, day, regular), extra, count

    def regular_classes(
        self, provider: str, grid: Grid, window: tuple[int, int], day: tuple[int, int], regular: int
    ) -> list[_Class]:
        """The regular starts in classes of equal score. Within one free stretch between the
        provider's busy time (seat-0 bookings and time off), the neighbouring bookings are
        the same for every start, and the compactness factor changes only where a side
        goes from abutting to a dead gap to a usable one: a few ranges of starts."""
        if not regular:
            return []
        before, length, shortest = self.before, self.duration + self.after, self.shortest
        window_start, window_end = window
        weights, times = self.rules.weights, bool(self.query.preferences.times)
        preference = self.preference_of(provider, grid.first)
        classes = []
        for left, right in self.free_stretches(provider, window):
            lo, hi = grid.index_from(left + before), grid.index_through(right - length)
            in_stretch = regular & grid.span(lo, hi)
            if not in_stretch:
                continue
            first = grid.start(lo)
            neighbours = self.index.neighbour_rooms(provider, first - before, first + length, day)
            cuts = sorted(
                {
                    lo,
                    hi + 1,
                    grid.index_through(left + before) + 1,  # past abutting the stretch's start
                    grid.index_from(left + before + shortest),  # past a dead gap before
                    grid.index_through(right - length - shortest) + 1,  # into a dead gap after
                    grid.index_from(right - length),  # abutting the stretch's end
                }
            )
            for cut, next_cut in zip(cuts, cuts[1:], strict=False):
                if not lo <= cut <= hi:
                    continue
                starts = in_stretch & grid.span(cut, next_cut - 1)
                if not starts:
                    continue
                start = grid.start(cut)
                compactness = scoring.compactness(
                    start - before - left,
                    right - start - length,
                    left > window_start,
                    right < window_end,
                    shortest,
                )
                for room_switch, chosen in self.room_switch_classes(grid, neighbours):
                    for pref, same in self.preference_classes(
                        provider, grid, starts & chosen, preference, times
                    ):
                        score = scoring.weighted(weights, pref, compactness, room_switch, 1.0)
                        classes.append(_Class(-score, same, grid, provider, window, neighbours))
        return classes

    def free_stretches(self, provider: str, window: tuple[int, int]) -> Iterator[tuple[int, int]]:
        """The stretches of the window outside the provider's busy time, in order."""
        busy = self.index.busy[provider]
        window_start, window_end = window
        cursor = window_start
        i = bisect_right(busy.ends, window_start)
        while i < len(busy.starts) and busy.starts[i] < window_end:
            if busy.starts[i] > cursor:
                yield cursor, busy.starts[i]
            cursor = max(cursor, busy.ends[i])
            i += 1
        if cursor < window_end:
            yield cursor, window_end

    def room_switch_classes(self, grid: Grid, neighbours: tuple[str, ...]) -> Iterator[tuple[float, int]]:
        """The room factor by the room a start gets: the first neighbouring room free then
        (as ``pick_room`` chooses), else one the provider is not in next to it."""
        taken = 0
        for room in dict.fromkeys(neighbours):
            if room in self.room_codes:
                free = self.room_free(grid, 0, room) & ~taken
                yield scoring.room_switch(room, neighbours), free
                taken |= free
        yield scoring.room_switch("", neighbours), grid.full & ~taken

    def preference_classes(
        self, provider: str, grid: Grid, starts: int, preference: float, times: bool
    ) -> Iterator[tuple[float, int]]:
        """The preference factor: one value for the window, unless the patient prefers
        times of day; then start by start."""
        if not starts:
            return
        if not times:
            yield preference, starts
            return
        by_value: dict[float, int] = defaultdict(int)
        for i in indices(starts):
            by_value[self.preference_of(provider, grid.start(i))] |= 1 << i
        yield from by_value.items()

    def find(self, limit: int | None) -> tuple[list[_Candidate], int]:
        """The best ``limit`` candidates (all of them when None), ranked, and how many
        there are. Overbooking seats rank after every regular one, so they are scored
        start by start only when the regular ones do not fill the answer."""
        classes: list[_Class] = []
        extras: list[_Extra] = []
        total = 0
        for provider in self.snapshot.providers:
            if self.query.provider is not None and provider.code != self.query.provider:
                continue
            if not self.type.allows(provider.code):
                continue
            max_extra = max_extra_seats(self.snapshot.overbooking_rules, provider.code, self.type.code)
            if not self.query.include_overbooking:
                max_extra = 0
            for day in days(self.query.date_from, self.query.date_to):
                if day in self.rules.closures or day > self.last_day:
                    continue
                bounds = self.day_bounds(day)
                for window in self.windows(provider, day):
                    found, extra, count = self.window_candidates(provider.code, window, bounds, max_extra)
                    classes.extend(found)
                    extras.extend(extra)
                    total += count
        wanted = total if limit is None else min(limit, total)
        ranked = self.expand_regular(classes, wanted)
        if len(ranked) < wanted:
            ranked.extend(self.expand_extra(extras, wanted - len(ranked)))
        return ranked, total

    def expand_regular(self, classes: list[_Class], wanted: int) -> list[_Candidate]:
        """The best ``wanted`` regular candidates: classes by score, each class's starts by
        start and provider."""
        ranked: list[_Candidate] = []
        classes.sort(key=lambda c: c.minus_score)
        i = 0
        while i < len(classes) and len(ranked) < wanted:
            j = i
            while j < len(classes) and classes[j].minus_score == classes[i].minus_score:
                j += 1
            tied = sorted((c.grid.start(k), c.provider, c) for c in classes[i:j] for k in indices(c.starts))
            for start, provider, c in tied[: wanted - len(ranked)]:
                blocked_start, blocked_end = start - self.before, start + self.duration + self.after
                room = self.pick_room(0, blocked_start, blocked_end, c.neighbours)
                if room is None:  # cannot happen: the class's starts have a free room
                    raise AssertionError(f"no room for {provider} at {instant_of(start)}")
                ranked.append(
                    _Candidate(False, c.minus_score, start, provider, room, 0, c.window, c.neighbours)
                )
            i = j
        return ranked

    def expand_extra(self, extras: list[_Extra], wanted: int) -> list[_Candidate]:
        """The best ``wanted`` overbooking candidates. Their compactness is neutral and
        their seat fixes the overbooking factor, so a start's score needs only its
        neighbouring rooms and which of them is free at the seat (the room ``pick_room``
        would give); the room itself is picked for the ones returned."""
        weights, times = self.rules.weights, bool(self.query.preferences.times)
        before, length = self.before, self.duration + self.after
        scored = []
        for e in extras:
            overbooking = scoring.overbooking(e.seat)
            preference = self.preference_of(e.provider, e.grid.first)
            score_of: dict[tuple[float, float], float] = {}  # by preference and room factor
            for i in indices(e.starts):
                start = e.grid.first + i * e.grid.step
                neighbours = self.index.neighbour_rooms(e.provider, start - before, start + length, e.day)
                chosen = ""
                for nearby in neighbours:
                    if nearby in self.room_codes and self.room_free(e.grid, e.seat, nearby) >> i & 1:
                        chosen = nearby
                        break
                if times:
                    preference = self.preference_of(e.provider, start)
                key = (preference, scoring.room_switch(chosen, neighbours))
                if key not in score_of:
                    score_of[key] = scoring.weighted(weights, key[0], scoring.NEUTRAL, key[1], overbooking)
                scored.append((True, -score_of[key], start, e.provider, e, neighbours))
        ranked = []
        for _, minus_score, start, provider, e, neighbours in heapq.nsmallest(wanted, scored):
            room = self.pick_room(e.seat, start - before, start + length, neighbours)
            if room is None:  # cannot happen: the seat's starts have a free room
                raise AssertionError(f"no room for {provider} at {instant_of(start)}")
            ranked.append(_Candidate(True, minus_score, start, provider, room, e.seat, e.window, neighbours))
        return ranked


class _Class(NamedTuple):
    """Regular starts of one window that share a score, their neighbours and window."""

    minus_score: float
    starts: int  # bits of the grid
    grid: Grid
    provider: str
    window: tuple[int, int]
    neighbours: tuple[str, ...]


class _Extra(NamedTuple):
    """Overbooking starts of one window at one seat."""

    seat: int
    starts: int  # bits of the grid
    grid: Grid
    provider: str
    window: tuple[int, int]
    day: tuple[int, int]


def find_slots(snapshot: Snapshot, query: SlotQuery, *, limit: int | None = None) -> SearchResult:
    """Every valid slot for the query, best first; ``total`` counts them before ``limit``.

    Ordering: regular seats before overbooking seats, then score descending, then start,
    then provider code, so equal inputs always give equal answers. Only the slots returned
    are explained.
    """
    search = _Search(snapshot, query)
    ranked, total = search.find(limit)
    return SearchResult(slots=tuple(search.explain(c) for c in ranked), total=total)


def check_slot(
    snapshot: Snapshot,
    query: SlotQuery,
    *,
    provider: str,
    room: str,
    start: dt.datetime,
    overbook: bool = False,
) -> Verdict:
    """May ``query``'s patient book this exact slot now? The booking service asks this
    inside its transaction before inserting."""
    search = _Search(snapshot, query)
    appointment_type = query.appointment_type
    tz = snapshot.rules.tz
    provider_spec = next((p for p in snapshot.providers if p.code == provider), None)
    room_spec = next((r for r in snapshot.rooms if r.code == room), None)
    if provider_spec is None or not appointment_type.allows(provider):
        return _reject("provider_not_allowed", f"{provider} does not perform {appointment_type.code}.")
    if room_spec is None or not appointment_type.required_equipment <= room_spec.equipment:
        have = room_spec.equipment if room_spec else frozenset()
        missing = ", ".join(sorted(appointment_type.required_equipment - have))
        return _reject("room_lacks_equipment", f"Room {room} lacks the equipment this type needs: {missing}.")
    day = local_date(start, tz)
    at = micros(start)
    if start < snapshot.now:
        return _reject("in_past", "That time has already passed.")
    if at < search.earliest:
        minutes = snapshot.rules.min_notice_minutes
        return _reject("min_notice", f"Bookings need at least {minutes} minutes' notice.")
    if day > search.last_day:
        horizon = snapshot.rules.booking_horizon_days
        return _reject("beyond_horizon", f"Bookings open at most {horizon} days ahead.")
    if day in snapshot.rules.closures:
        return _reject("closure", f"The clinic is closed on {day.isoformat()}.")
    blocked_start, blocked_end = at - search.before, at + search.duration + search.after
    windows = search.windows(provider_spec, day)
    window = next((w for w in windows if w[0] <= blocked_start and blocked_end <= w[1]), None)
    if window is None:
        if any(w_start <= at < w_end for w_start, w_end in windows):
            return _reject(
                "outside_working_hours", "The appointment would run past the end of the working hours."
            )
        if windows and windows[0][0] <= at < windows[-1][1]:
            return _reject("in_break", f"{provider} is on a break then.")
        return _reject("outside_working_hours", f"{provider} does not work then.")
    if at not in search.grid(window):
        return _reject(
            "off_grid",
            f"Appointments start every {snapshot.rules.slot_minutes} minutes"
            f" from {instant_of(window[0]).astimezone(tz):%H:%M}.",
        )
    index = search.index
    if index.time_off[provider].overlaps(blocked_start, blocked_end):
        return _reject("time_off", f"{provider} is off then.")
    if index.patient.overlaps(at, at + search.duration):
        return _taken("patient", "The patient already has an appointment at that time.")
    if not overbook:
        if not index.provider_free(provider, 0, blocked_start, blocked_end):
            return _taken("provider", f"{provider} is already booked then.")
        if not index.room_free(room, 0, blocked_start, blocked_end):
            return _taken("room", f"Room {room} is already booked then.")
        seat = 0
    else:
        if index.provider_free(provider, 0, blocked_start, blocked_end):
            return _reject("overbooking_not_needed", f"{provider} is free then: book a regular seat.")
        max_extra = max_extra_seats(snapshot.overbooking_rules, provider, appointment_type.code)
        free = [
            s
            for s in range(1, max_extra + 1)
            if index.provider_free(provider, s, blocked_start, blocked_end)
            and index.room_free(room, s, blocked_start, blocked_end)
        ]
        if not free:
            return _reject("no_overbooking_seat", "No overbooking seat is left at that time.")
        seat = free[0]
    neighbours = index.neighbour_rooms(provider, blocked_start, blocked_end, search.day_bounds(day))
    slot = search.explain(search.candidate(provider, room, seat, at, window, neighbours))
    return Verdict(ok=True, seat=seat, slot=slot)

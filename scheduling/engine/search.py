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

import bisect
import datetime as dt
import heapq
from collections import defaultdict
from dataclasses import dataclass

from scheduling.engine import scoring
from scheduling.engine.calendar import days, local_date, working_windows
from scheduling.engine.intervals import EMPTY, Span, Timeline
from scheduling.engine.rules import max_extra_seats
from scheduling.engine.types import (
    Factors,
    Interval,
    ProviderSpec,
    SearchResult,
    Slot,
    SlotQuery,
    Snapshot,
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


@dataclass(frozen=True)
class _Candidate:
    """A valid slot before it is explained: what ranking needs, and what explaining needs."""

    key: tuple[bool, float, dt.datetime, str]  # overbook?, -score, start, provider
    provider: str
    room: str
    seat: int
    start: dt.datetime
    window: Interval
    neighbours: tuple[str, ...]


class _Index:
    """The snapshot's bookings arranged for one query: a timeline per seat."""

    def __init__(self, snapshot: Snapshot, query: SlotQuery):
        provider_seats: dict[tuple[str, int], list[Span]] = defaultdict(list)
        room_seats: dict[tuple[str, int], list[Span]] = defaultdict(list)
        regular: dict[str, list[tuple[dt.datetime, dt.datetime, str, dt.datetime]]] = defaultdict(list)
        patient_spans: list[Span] = []
        for b in snapshot.bookings:
            blocked = (b.blocked_start, b.blocked_end)
            provider_seats[b.provider, b.seat].append(blocked)
            room_seats[b.room, b.seat].append(blocked)
            if b.seat == 0:
                regular[b.provider].append((b.blocked_start, b.blocked_end, b.room, b.start))
            if query.patient is not None and b.patient == query.patient:
                patient_spans.append((b.start, b.end))
        self.provider_seats = {key: Timeline(spans) for key, spans in provider_seats.items()}
        self.room_seats = {key: Timeline(spans) for key, spans in room_seats.items()}
        self.patient = Timeline(patient_spans)
        time_off = {p.code: [(t.start, t.end) for t in p.time_off] for p in snapshot.providers}
        self.time_off = {code: Timeline(spans) for code, spans in time_off.items()}
        # Each provider's regular bookings in order, for the neighbours of a slot: blocked
        # starts and ends to search, rooms and local dates to read.
        tz = snapshot.rules.tz
        self.regular: dict[str, tuple[list[dt.datetime], list[dt.datetime], list[str], list[dt.date]]] = {}
        for code, rows in regular.items():
            rows.sort()
            self.regular[code] = (
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                [local_date(r[3], tz) for r in rows],
            )
        # What a slot's compactness is measured against: booked seat-0 time and time off.
        self.busy = {
            code: Timeline([(r[0], r[1]) for r in regular.get(code, ())] + spans)
            for code, spans in time_off.items()
        }

    def provider_free(self, provider: str, seat: int, start: dt.datetime, end: dt.datetime) -> bool:
        return not self.provider_seats.get((provider, seat), EMPTY).overlaps(start, end)

    def room_free(self, room: str, seat: int, start: dt.datetime, end: dt.datetime) -> bool:
        return not self.room_seats.get((room, seat), EMPTY).overlaps(start, end)

    def neighbour_rooms(
        self, provider: str, start: dt.datetime, end: dt.datetime, day: dt.date
    ) -> tuple[str, ...]:
        """Rooms of the provider's regular bookings just before and just after, that day."""
        if provider not in self.regular:
            return ()
        starts, ends, rooms, dates = self.regular[provider]
        before = bisect.bisect_right(ends, start) - 1
        after = bisect.bisect_left(starts, end)
        return tuple(rooms[i] for i in (before, after) if 0 <= i < len(rooms) and dates[i] == day)


class _Search:
    def __init__(self, snapshot: Snapshot, query: SlotQuery):
        self.snapshot = snapshot
        self.query = query
        self.rules = snapshot.rules
        self.type = query.appointment_type
        self.index = _Index(snapshot, query)
        self.duration = dt.timedelta(minutes=self.type.duration_minutes)
        self.before = dt.timedelta(minutes=self.type.buffer_before_minutes)
        self.after = dt.timedelta(minutes=self.type.buffer_after_minutes)
        self.step = dt.timedelta(minutes=self.rules.slot_minutes)
        self.shortest = dt.timedelta(minutes=snapshot.shortest_type_minutes)
        self.earliest = snapshot.now + dt.timedelta(minutes=self.rules.min_notice_minutes)
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
        self._first_free_room: dict[tuple[int, dt.datetime, dt.datetime], str | None] = {}

    def grid(self, window: Interval) -> list[dt.datetime]:
        """Starts on the window's grid whose blocked range fits inside the window."""
        starts = []
        start = window.start
        while start - self.before < window.start:
            start += self.step
        while start + self.duration + self.after <= window.end:
            starts.append(start)
            start += self.step
        return starts

    def pick_room(
        self, seat: int, start: dt.datetime, end: dt.datetime, neighbours: tuple[str, ...]
    ) -> str | None:
        """The best free room at this seat over the blocked ``[start, end)``: the one the
        provider is in next to it, else the first free one in preference order."""
        # The room of the booking before, then of the one after (both, when they agree).
        for room in dict.fromkeys(neighbours):
            if room in self.room_codes and self.index.room_free(room, seat, start, end):
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
        start: dt.datetime,
        window: Interval,
        neighbours: tuple[str, ...],
        words: list[str] | None = None,
    ) -> Factors:
        end = start + self.duration
        preference = scoring.preference(self.query.preferences, provider, start, end, self.rules.tz, words)
        if seat == 0:
            blocked_start, blocked_end = start - self.before, end + self.after
            prev_end, next_start = self.index.busy[provider].free_span(blocked_start, blocked_end)
            left = max(prev_end, window.start) if prev_end else window.start
            right = min(next_start, window.end) if next_start else window.end
            compactness = scoring.compactness(
                blocked_start - left,
                right - blocked_end,
                before_is_booking=left > window.start,
                after_is_booking=right < window.end,
                shortest=self.shortest,
                words=words,
            )
        else:
            compactness = scoring.NEUTRAL
        room_switch = scoring.room_switch(room, list(neighbours), words)
        overbooking = scoring.overbooking(seat, words)
        return Factors(preference, compactness, room_switch, overbooking)

    def candidate(
        self,
        provider: str,
        room: str,
        seat: int,
        start: dt.datetime,
        window: Interval,
        neighbours: tuple[str, ...],
    ) -> _Candidate:
        score = scoring.total(
            self.rules.weights, self.factors(provider, room, seat, start, window, neighbours)
        )
        return _Candidate(
            (seat > 0, -score, start, provider), provider, room, seat, start, window, neighbours
        )

    def explain(self, c: _Candidate) -> Slot:
        words: list[str] = []
        factors = self.factors(c.provider, c.room, c.seat, c.start, c.window, c.neighbours, words)
        return Slot(
            start=c.start,
            end=c.start + self.duration,
            provider=c.provider,
            room=c.room,
            seat=c.seat,
            score=-c.key[1],
            factors=Factors(*(round(value, 4) for value in vars(factors).values())),
            explanation=tuple(words),
        )

    def candidates_for(self, provider: ProviderSpec) -> list[_Candidate]:
        max_extra = max_extra_seats(self.snapshot.overbooking_rules, provider.code, self.type.code)
        if not self.query.include_overbooking:
            max_extra = 0
        time_off = self.index.time_off[provider.code]
        patient = self.index.patient
        found = []
        for day in days(self.query.date_from, self.query.date_to):
            if day in self.rules.closures or day > self.last_day:
                continue
            for window in working_windows(provider, day, self.rules.tz):
                for start in self.grid(window):
                    if start < self.earliest:
                        continue
                    blocked_start, blocked_end = start - self.before, start + self.duration + self.after
                    if time_off.overlaps(blocked_start, blocked_end):
                        continue
                    if patient.overlaps(start, start + self.duration):
                        continue
                    found_one = self.seat_and_room(
                        provider.code, start, blocked_start, blocked_end, window, day, max_extra
                    )
                    if found_one is not None:
                        found.append(found_one)
        return found

    def seat_and_room(
        self,
        provider: str,
        start: dt.datetime,
        blocked_start: dt.datetime,
        blocked_end: dt.datetime,
        window: Interval,
        day: dt.date,
        max_extra: int,
    ) -> _Candidate | None:
        """A regular seat when the provider's seat 0 is free; otherwise the lowest seat
        1..max_extra free on the provider and on a room."""
        neighbours = self.index.neighbour_rooms(provider, blocked_start, blocked_end, day)
        if self.index.provider_free(provider, 0, blocked_start, blocked_end):
            room = self.pick_room(0, blocked_start, blocked_end, neighbours)
            # A free provider with no free room is not an overbooking case.
            return None if room is None else self.candidate(provider, room, 0, start, window, neighbours)
        for seat in range(1, max_extra + 1):
            if self.index.provider_free(provider, seat, blocked_start, blocked_end):
                room = self.pick_room(seat, blocked_start, blocked_end, neighbours)
                if room is not None:
                    return self.candidate(provider, room, seat, start, window, neighbours)
        return None


def find_slots(snapshot: Snapshot, query: SlotQuery, *, limit: int | None = None) -> SearchResult:
    """Every valid slot for the query, best first; ``total`` counts them before ``limit``.

    Ordering: regular seats before overbooking seats, then score descending, then start,
    then provider code, so equal inputs always give equal answers. Every candidate is
    scored; only the ones returned are explained.
    """
    search = _Search(snapshot, query)
    candidates: list[_Candidate] = []
    for provider in snapshot.providers:
        if query.provider is not None and provider.code != query.provider:
            continue
        if not query.appointment_type.allows(provider.code):
            continue
        candidates.extend(search.candidates_for(provider))
    if limit is None:
        best = sorted(candidates, key=lambda c: c.key)
    else:
        best = heapq.nsmallest(limit, candidates, key=lambda c: c.key)
    return SearchResult(slots=tuple(search.explain(c) for c in best), total=len(candidates))


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
    if start < snapshot.now:
        return _reject("in_past", "That time has already passed.")
    if start < search.earliest:
        minutes = snapshot.rules.min_notice_minutes
        return _reject("min_notice", f"Bookings need at least {minutes} minutes' notice.")
    if day > search.last_day:
        horizon = snapshot.rules.booking_horizon_days
        return _reject("beyond_horizon", f"Bookings open at most {horizon} days ahead.")
    if day in snapshot.rules.closures:
        return _reject("closure", f"The clinic is closed on {day.isoformat()}.")
    blocked_start, blocked_end = start - search.before, start + search.duration + search.after
    windows = working_windows(provider_spec, day, tz)
    window = next((w for w in windows if w.start <= blocked_start and blocked_end <= w.end), None)
    if window is None:
        if any(w.start <= start < w.end for w in windows):
            return _reject(
                "outside_working_hours", "The appointment would run past the end of the working hours."
            )
        if windows and windows[0].start <= start < windows[-1].end:
            return _reject("in_break", f"{provider} is on a break then.")
        return _reject("outside_working_hours", f"{provider} does not work then.")
    if start not in search.grid(window):
        return _reject(
            "off_grid",
            f"Appointments start every {snapshot.rules.slot_minutes} minutes"
            f" from {window.start.astimezone(tz):%H:%M}.",
        )
    index = search.index
    if index.time_off[provider].overlaps(blocked_start, blocked_end):
        return _reject("time_off", f"{provider} is off then.")
    if index.patient.overlaps(start, start + search.duration):
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
    neighbours = index.neighbour_rooms(provider, blocked_start, blocked_end, day)
    slot = search.explain(search.candidate(provider, room, seat, start, window, neighbours))
    return Verdict(ok=True, seat=seat, slot=slot)

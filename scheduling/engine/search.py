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
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from scheduling.engine import scoring
from scheduling.engine.calendar import days, local_date, working_windows
from scheduling.engine.intervals import Timeline
from scheduling.engine.rules import max_extra_seats
from scheduling.engine.types import (
    AppointmentTypeSpec,
    Booking,
    Factors,
    Interval,
    ProviderSpec,
    RoomSpec,
    SearchResult,
    Slot,
    SlotQuery,
    Snapshot,
)

_EMPTY = Timeline(())


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


class _Index:
    """The snapshot's bookings arranged for one query: a timeline per seat."""

    def __init__(self, snapshot: Snapshot, query: SlotQuery):
        provider_seats: dict[tuple[str, int], list[Interval]] = defaultdict(list)
        room_seats: dict[tuple[str, int], list[Interval]] = defaultdict(list)
        regular: dict[str, list[Booking]] = defaultdict(list)
        patient_spans: list[Interval] = []
        for booking in snapshot.bookings:
            provider_seats[booking.provider, booking.seat].append(booking.blocked)
            room_seats[booking.room, booking.seat].append(booking.blocked)
            if booking.seat == 0:
                regular[booking.provider].append(booking)
            if query.patient is not None and booking.patient == query.patient:
                patient_spans.append(booking.span)
        # The database keeps each seat's bookings disjoint; merging anyway costs little and
        # keeps the engine right even on a snapshot that was assembled by hand.
        self.provider_seats = {key: Timeline(v) for key, v in provider_seats.items()}
        self.room_seats = {key: Timeline(v) for key, v in room_seats.items()}
        self.patient = Timeline(patient_spans)
        self.time_off = {p.code: Timeline(p.time_off) for p in snapshot.providers}
        self.regular: dict[str, tuple[Sequence[Booking], list[dt.datetime], list[dt.datetime]]] = {}
        for code, bookings in regular.items():
            ordered = sorted(bookings, key=lambda b: b.blocked_start)
            self.regular[code] = (
                ordered,
                [b.blocked_start for b in ordered],
                [b.blocked_end for b in ordered],
            )
        # What a slot's compactness is measured against: booked seat-0 time and time off.
        self.busy = {
            p.code: Timeline([b.blocked for b in regular.get(p.code, ())] + list(p.time_off))
            for p in snapshot.providers
        }

    def provider_free(self, provider: str, seat: int, blocked: Interval) -> bool:
        return not self.provider_seats.get((provider, seat), _EMPTY).overlaps(blocked.start, blocked.end)

    def room_free(self, room: str, seat: int, blocked: Interval) -> bool:
        return not self.room_seats.get((room, seat), _EMPTY).overlaps(blocked.start, blocked.end)

    def neighbour_rooms(
        self, provider: str, blocked: Interval, day: dt.date, snapshot: Snapshot
    ) -> list[str]:
        """Rooms of the provider's regular bookings just before and just after, that day."""
        bookings, starts, ends = self.regular.get(provider, ((), [], []))
        tz = snapshot.rules.tz
        rooms = []
        before = bisect.bisect_right(ends, blocked.start) - 1
        after = bisect.bisect_left(starts, blocked.end)
        for i in (before, after):
            if 0 <= i < len(bookings) and local_date(bookings[i].start, tz) == day:
                rooms.append(bookings[i].room)
        return rooms


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
        self.rooms = sorted(
            (r for r in snapshot.rooms if self.type.required_equipment <= r.equipment),
            key=lambda r: (len(r.equipment - self.type.required_equipment), r.code),
        )
        self.room_codes = {r.code for r in self.rooms}

    def blocked(self, start: dt.datetime) -> Interval:
        return Interval(start - self.before, start + self.duration + self.after)

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

    def timely(self, start: dt.datetime, day: dt.date) -> bool:
        return start >= self.earliest and day <= self.last_day

    def pick_room(
        self, provider: str, seat: int, blocked: Interval, day: dt.date
    ) -> tuple[str, list[str]] | None:
        """The best free room at this seat, and the rooms of the provider's neighbours."""
        neighbours = self.index.neighbour_rooms(provider, blocked, day, self.snapshot)
        preferred = sorted(
            {r for r in neighbours if r in self.room_codes},
            key=lambda r: -neighbours.count(r),
        )
        for room in preferred:
            if self.index.room_free(room, seat, blocked):
                return room, neighbours
        for spec in self.rooms:
            if spec.code not in preferred and self.index.room_free(spec.code, seat, blocked):
                return spec.code, neighbours
        return None

    def make_slot(
        self, provider: str, room: str, seat: int, start: dt.datetime, window: Interval, neighbours: list[str]
    ) -> Slot:
        end = start + self.duration
        blocked = self.blocked(start)
        pref, pref_words = scoring.preference(self.query.preferences, provider, start, end, self.rules.tz)
        if seat == 0:
            prev_end, next_start = self.index.busy[provider].free_span(blocked.start, blocked.end)
            left = max(prev_end, window.start) if prev_end else window.start
            right = min(next_start, window.end) if next_start else window.end
            compact, compact_words = scoring.compactness(
                blocked.start - left,
                right - blocked.end,
                before_is_booking=left > window.start,
                after_is_booking=right < window.end,
                shortest=self.shortest,
            )
        else:
            compact, compact_words = scoring.NEUTRAL, []
        switch, switch_words = scoring.room_switch(room, neighbours)
        over, over_words = scoring.overbooking(seat)
        factors = Factors(round(pref, 4), round(compact, 4), round(switch, 4), round(over, 4))
        return Slot(
            start=start,
            end=end,
            provider=provider,
            room=room,
            seat=seat,
            score=scoring.total(self.rules.weights, factors),
            factors=factors,
            explanation=tuple(pref_words + compact_words + switch_words + over_words),
        )

    def seat_for(self, provider: str, blocked: Interval, max_extra: int) -> int | None:
        """Seat 0 when the provider's regular seat is free; otherwise the lowest free
        overbooking seat, or None."""
        if self.index.provider_free(provider, 0, blocked):
            return 0
        for seat in range(1, max_extra + 1):
            if self.index.provider_free(provider, seat, blocked):
                return seat
        return None

    def slots_for(self, provider: ProviderSpec) -> list[Slot]:
        max_extra = max_extra_seats(self.snapshot.overbooking_rules, provider.code, self.type.code)
        if not self.query.include_overbooking:
            max_extra = 0
        time_off = self.index.time_off[provider.code]
        slots = []
        for day in days(self.query.date_from, self.query.date_to):
            if day in self.rules.closures or day > self.last_day:
                continue
            for window in working_windows(provider, day, self.rules.tz):
                for start in self.grid(window):
                    if not self.timely(start, day):
                        continue
                    blocked = self.blocked(start)
                    if time_off.overlaps(blocked.start, blocked.end):
                        continue
                    if self.index.patient.overlaps(start, start + self.duration):
                        continue
                    slot = self.seat_and_room(provider.code, start, blocked, window, day, max_extra)
                    if slot is not None:
                        slots.append(slot)
        return slots

    def seat_and_room(
        self,
        provider: str,
        start: dt.datetime,
        blocked: Interval,
        window: Interval,
        day: dt.date,
        max_extra: int,
    ) -> Slot | None:
        seat = self.seat_for(provider, blocked, max_extra)
        while seat is not None and seat <= max_extra:
            picked = self.pick_room(provider, seat, blocked, day)
            if picked is not None:
                return self.make_slot(provider, picked[0], seat, start, window, picked[1])
            if seat == 0:
                return None  # the provider is free but no room is: not an overbooking case
            seat = next(
                (s for s in range(seat + 1, max_extra + 1) if self.index.provider_free(provider, s, blocked)),
                None,
            )
        return None


def find_slots(snapshot: Snapshot, query: SlotQuery, *, limit: int | None = None) -> SearchResult:
    """Every valid slot for the query, best first; ``total`` counts them before ``limit``.

    Ordering: regular seats before overbooking seats, then score descending, then start,
    then provider code, so equal inputs always give equal answers.
    """
    search = _Search(snapshot, query)
    slots: list[Slot] = []
    for provider in snapshot.providers:
        if query.provider is not None and provider.code != query.provider:
            continue
        if not query.appointment_type.allows(provider.code):
            continue
        slots.extend(search.slots_for(provider))
    slots.sort(key=lambda s: (s.seat > 0, -s.score, s.start, s.provider))
    return SearchResult(slots=tuple(slots if limit is None else slots[:limit]), total=len(slots))


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
        missing = ", ".join(
            sorted(appointment_type.required_equipment - (room_spec.equipment if room_spec else set()))
        )
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
    blocked = search.blocked(start)
    windows = working_windows(provider_spec, day, tz)
    window = next((w for w in windows if w.contains(blocked)), None)
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
    if search.index.time_off[provider].overlaps(blocked.start, blocked.end):
        return _reject("time_off", f"{provider} is off then.")
    if search.index.patient.overlaps(start, start + search.duration):
        return _taken("patient", "The patient already has an appointment at that time.")
    if not overbook:
        if not search.index.provider_free(provider, 0, blocked):
            return _taken("provider", f"{provider} is already booked then.")
        if not search.index.room_free(room, 0, blocked):
            return _taken("room", f"Room {room} is already booked then.")
        seat = 0
    else:
        if search.index.provider_free(provider, 0, blocked):
            return _reject("overbooking_not_needed", f"{provider} is free then: book a regular seat.")
        max_extra = max_extra_seats(snapshot.overbooking_rules, provider, appointment_type.code)
        free = [
            s
            for s in range(1, max_extra + 1)
            if search.index.provider_free(provider, s, blocked) and search.index.room_free(room, s, blocked)
        ]
        if not free:
            return _reject("no_overbooking_seat", "No overbooking seat is left at that time.")
        seat = free[0]
    neighbours = search.index.neighbour_rooms(provider, blocked, day, snapshot)
    return Verdict(ok=True, seat=seat, slot=search.make_slot(provider, room, seat, start, window, neighbours))


__all__ = ["AppointmentTypeSpec", "RoomSpec", "Verdict", "check_slot", "find_slots"]

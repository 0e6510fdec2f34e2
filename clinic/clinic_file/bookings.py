"""The checks a clinic file's appointments go through, on plain data: seats, overlaps and
the booking rules that only warn.

Overlaps are errors: the database would refuse them. Breaking a booking rule (outside
working hours, off the grid, a room without the equipment, a provider who does not do the
type, time off, a closure) only warns: such a booking can exist legitimately (the rules
changed after it was made) and an export must always load back.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from clinic.clinic_file.spec import (
    AppointmentSpec,
    AppointmentTypeSpec,
    ClinicFile,
    OverbookingRuleSpec,
    ProviderSpec,
    RoomSpec,
)
from scheduling.engine.calendar import instant
from scheduling.engine.rules import deciding_rule
from scheduling.engine.types import OverbookingRule

# (max_extra, which rule decided), or None when no rule exists.
SeatLimit = Callable[[str, str], "tuple[int, str] | None"]


def seat_limit(rules: Iterable[OverbookingRuleSpec]) -> SeatLimit:
    """The most specific overbooking rule wins (the engine's rule), named for messages."""
    engine_rules = [
        OverbookingRule(max_extra=r.max_extra, provider=r.provider, appointment_type=r.appointment_type)
        for r in rules
    ]

    def limit(provider: str, appointment_type: str) -> tuple[int, str] | None:
        rule = deciding_rule(engine_rules, provider, appointment_type)
        if rule is None:
            return None
        if rule.provider is None:
            return rule.max_extra, "the clinic's global rule"
        if rule.appointment_type is None:
            return rule.max_extra, f"the rule for {provider}"
        return rule.max_extra, f"the rule for {provider} / {appointment_type}"

    return limit


@dataclass(frozen=True)
class Busy:
    """Time held on a provider or room seat by a booking outside the file."""

    kind: str  # "provider" or "room"
    code: str
    seat: int
    start: dt.datetime
    end: dt.datetime


class Track:
    """Non-overlapping ``[start, end)`` intervals of one seat, sorted by start."""

    def __init__(self) -> None:
        self.starts: list[dt.datetime] = []
        self.ends: list[dt.datetime] = []

    def free(self, start: dt.datetime, end: dt.datetime) -> bool:
        i = bisect.bisect_left(self.starts, start)
        if i > 0 and self.ends[i - 1] > start:
            return False
        return i == len(self.starts) or self.starts[i] >= end

    def add(self, start: dt.datetime, end: dt.datetime) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)


def assign_seats(
    appointments: Sequence[AppointmentSpec],
    limit: SeatLimit,
    *,
    busy: Iterable[Busy] = (),
    preferred: Mapping[int, int] | None = None,
) -> tuple[list[int | None], list[str]]:
    """Seat 0 for a regular booking; for an overbooking the lowest seat k in
    1..max_extra free on both its provider and its room (``preferred[i]`` first, so that
    reloading keeps the seats already stored). Returns the seats (None where there is
    none, with an error) and the errors."""
    preferred = preferred or {}
    tracks: dict[tuple[str, str, int], Track] = defaultdict(Track)
    for b in busy:
        tracks[b.kind, b.code, b.seat].add(b.start, b.end)

    seats: list[int | None] = []
    errors: list[str] = []
    for i, a in enumerate(appointments):
        if not a.overbook:
            seats.append(0)
            continue
        if not a.active:
            # History holds no time: any extra seat will do.
            seats.append(max(preferred.get(i, 1), 1))
            continue
        rule = limit(a.provider, a.appointment_type)
        if rule is None or rule[0] == 0:
            why = "no overbooking rule exists" if rule is None else f"{rule[1]} allows none"
            errors.append(f"{a.path}: cannot overbook {a.provider} for {a.appointment_type}: {why}")
            seats.append(None)
            continue
        max_extra, _ = rule
        candidates = [preferred[i]] if 1 <= preferred.get(i, 0) <= max_extra else []
        candidates += range(1, max_extra + 1)
        for seat in candidates:
            provider = tracks["provider", a.provider, seat]
            room = tracks["room", a.room, seat]
            if provider.free(a.blocked_start, a.blocked_end) and room.free(a.blocked_start, a.blocked_end):
                provider.add(a.blocked_start, a.blocked_end)
                room.add(a.blocked_start, a.blocked_end)
                seats.append(seat)
                break
        else:
            errors.append(
                f"{a.path}: no overbooking seat left: all {max_extra} extra seat(s) of "
                f"{a.provider} or of room {a.room} are taken then"
            )
            seats.append(None)
    return seats, errors


def find_overlaps(appointments: Sequence[AppointmentSpec], unseated: Iterable[int] = ()) -> list[str]:
    """Pairs of active appointments in the file that would double-book a provider seat or
    a room seat (over the blocked ranges) or a patient (over ``[start, end)``).

    Each appointment is reported at most once per resource, naming the earlier entry it
    overlaps. ``unseated`` entries (no overbooking seat, reported already) hold no seat."""
    unseated = set(unseated)
    groups: dict[tuple[str, str, int], list[tuple[dt.datetime, dt.datetime, int]]] = defaultdict(list)
    for i, a in enumerate(appointments):
        if not a.active:
            continue
        groups["patient", a.patient, 0].append((a.start, a.end, i))
        if i in unseated:
            continue
        groups["provider", a.provider, a.seat].append((a.blocked_start, a.blocked_end, i))
        groups["room", a.room, a.seat].append((a.blocked_start, a.blocked_end, i))

    found: list[tuple[int, int, str]] = []
    for (kind, code, _seat), spans in groups.items():
        spans.sort()
        latest_end: dt.datetime | None = None
        holder = -1  # the entry reaching furthest so far: it overlaps any later start before it
        for start, end, i in spans:
            if latest_end is not None and start < latest_end:
                later, earlier = max(i, holder), min(i, holder)
                where = f"for patient {code}" if kind == "patient" else f"on {kind} {code}"
                found.append((later, earlier, where))
            if latest_end is None or end > latest_end:
                latest_end, holder = end, i
    found.sort()
    return [
        f"{appointments[later].path}: overlaps {appointments[earlier].path} {where}"
        for later, earlier, where in found
    ]


def _local(moment: dt.datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%dT%H:%M}"


def booking_warnings(file: ClinicFile, appointments: Sequence[AppointmentSpec]) -> list[str]:
    """Active appointments that break a booking rule of the file's own clinic."""
    tz = ZoneInfo(file.clinic.timezone)
    step = file.clinic.slot_minutes
    closures = {c.date for c in file.clinic.closures}
    providers: dict[str, ProviderSpec] = {p.code: p for p in file.providers}
    types: dict[str, AppointmentTypeSpec] = {t.code: t for t in file.appointment_types}
    rooms: dict[str, RoomSpec] = {r.code: r for r in file.rooms}

    warnings: list[str] = []
    for a in appointments:
        if not a.active:
            continue
        kind, provider, room = types[a.appointment_type], providers[a.provider], rooms[a.room]
        if not kind.allows(provider.code):
            warnings.append(f"{a.path}: {provider.code} does not perform {kind.code}")
        missing = sorted(kind.required_equipment - room.equipment)
        if missing:
            warnings.append(f"{a.path}: room {room.code} lacks {', '.join(missing)}")
        day = a.start.astimezone(tz).date()
        if day in closures:
            warnings.append(f"{a.path}: falls on the closure {day.isoformat()}")
        window = _window(provider, a, tz)
        if window is None:
            warnings.append(
                f"{a.path}: {_local(a.blocked_start, tz)}-{a.blocked_end.astimezone(tz):%H:%M}"
                f" (with buffers) is not inside one of {provider.code}'s working windows"
            )
        elif (a.start - window[0]) % dt.timedelta(minutes=step):
            warnings.append(
                f"{a.path}: start {a.start.astimezone(tz):%H:%M} is off the {step}-minute grid"
                f" of {provider.code}'s window from {window[0].astimezone(tz):%H:%M}"
            )
        for off in provider.time_off:
            if off.start < a.blocked_end and a.blocked_start < off.end:
                warnings.append(
                    f"{a.path}: overlaps {provider.code}'s time off "
                    f"{_local(off.start, tz)}-{_local(off.end, tz)}"
                )
                break
    return warnings


def _window(
    provider: ProviderSpec, a: AppointmentSpec, tz: ZoneInfo
) -> tuple[dt.datetime, dt.datetime] | None:
    """The working window holding the appointment's whole blocked range, as real instants."""
    day = a.blocked_start.astimezone(tz).date()
    for w in provider.working_hours:
        if w.weekday != day.weekday():
            continue
        start, end = instant(day, w.start, tz), instant(day, w.end, tz)
        if start <= a.blocked_start and a.blocked_end <= end:
            return start, end
    return None

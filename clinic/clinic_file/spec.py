"""A validated clinic file as plain frozen dataclasses: no Django, no ORM.

Datetimes are aware and in UTC (arithmetic on them is real elapsed time); clock times and
dates stay local to the clinic, as in the file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

ACTIVE_STATUSES = frozenset({"booked", "confirmed", "checked_in"})
STATUSES = ("booked", "confirmed", "checked_in", "completed", "cancelled", "no_show")
WAITLIST_STATUSES = ("open", "closed")
DEFAULT_WEIGHTS = {"preference": 0.40, "compactness": 0.35, "room_switch": 0.15, "overbooking": 0.10}
DEFAULT_NO_SHOW_GRACE_MINUTES = 15


@dataclass(frozen=True)
class ClosureSpec:
    date: dt.date
    reason: str


@dataclass(frozen=True)
class ClinicSpec:
    code: str
    name: str
    timezone: str
    slot_minutes: int
    min_notice_minutes: int
    booking_horizon_days: int
    weight_preference: float
    weight_compactness: float
    weight_room_switch: float
    weight_overbooking: float
    no_show_grace_minutes: int
    closures: tuple[ClosureSpec, ...]


@dataclass(frozen=True)
class EquipmentSpec:
    code: str
    name: str


@dataclass(frozen=True)
class RoomSpec:
    code: str
    name: str
    equipment: frozenset[str]


@dataclass(frozen=True)
class AppointmentTypeSpec:
    code: str
    name: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    required_equipment: frozenset[str]
    # Who may perform it; empty means every provider.
    providers: frozenset[str]

    def allows(self, provider: str) -> bool:
        return not self.providers or provider in self.providers


@dataclass(frozen=True, order=True)
class WindowSpec:
    """A local ``[start, end)`` working window on a weekday (0 = Monday)."""

    weekday: int
    start: dt.time
    end: dt.time


@dataclass(frozen=True)
class TimeOffSpec:
    start: dt.datetime
    end: dt.datetime
    reason: str


@dataclass(frozen=True)
class ProviderSpec:
    code: str
    name: str
    working_hours: tuple[WindowSpec, ...]  # sorted
    time_off: tuple[TimeOffSpec, ...]


@dataclass(frozen=True)
class OverbookingRuleSpec:
    provider: str | None
    appointment_type: str | None
    max_extra: int


@dataclass(frozen=True)
class PatientSpec:
    code: str
    first_name: str
    last_name: str
    birth_date: dt.date | None
    phone: str
    email: str
    preferred_providers: frozenset[str]
    preferred_days: tuple[str, ...]  # weekday keys, in weekday order
    preferred_times: tuple[tuple[str, str], ...]  # local "HH:MM" pairs, as in the file


@dataclass(frozen=True)
class AppointmentSpec:
    path: str  # "appointments[7]", for error messages
    patient: str
    appointment_type: str
    provider: str
    room: str
    start: dt.datetime
    end: dt.datetime
    blocked_start: dt.datetime
    blocked_end: dt.datetime
    status: str
    overbook: bool
    seat: int  # 0, or the overbooking seat the file's own bookings leave free
    cancelled_at: dt.datetime | None
    cancel_reason: str
    note: str

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class WaitlistSpec:
    path: str
    patient: str
    appointment_type: str
    provider: str | None
    earliest: dt.date
    latest: dt.date
    note: str
    status: str


@dataclass(frozen=True)
class ClinicFile:
    clinic: ClinicSpec
    equipment: tuple[EquipmentSpec, ...] = ()
    rooms: tuple[RoomSpec, ...] = ()
    appointment_types: tuple[AppointmentTypeSpec, ...] = ()
    providers: tuple[ProviderSpec, ...] = ()
    overbooking_rules: tuple[OverbookingRuleSpec, ...] = ()
    patients: tuple[PatientSpec, ...] = ()
    appointments: tuple[AppointmentSpec, ...] = ()
    waitlist: tuple[WaitlistSpec, ...] = ()


@dataclass(frozen=True)
class ParseResult:
    """Either ``file`` (no errors) or ``errors``; ``warnings`` never stop a load."""

    file: ClinicFile | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...] = ()

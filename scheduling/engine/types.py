"""The engine's vocabulary: plain frozen dataclasses in, plain frozen dataclasses out.

Every datetime here is timezone-aware. Instants inside the engine are kept in UTC so that
arithmetic is real elapsed time (subtracting two aware datetimes that share a ZoneInfo
subtracts wall-clock readings, which is wrong across a DST change).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open span of real time ``[start, end)``."""

    start: dt.datetime
    end: dt.datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Weights:
    preference: float = 0.40
    compactness: float = 0.35
    room_switch: float = 0.15
    overbooking: float = 0.10


@dataclass(frozen=True)
class ClinicRules:
    tz: ZoneInfo
    slot_minutes: int = 15
    min_notice_minutes: int = 0
    booking_horizon_days: int = 365
    weights: Weights = field(default_factory=Weights)
    closures: frozenset[dt.date] = frozenset()


@dataclass(frozen=True)
class AppointmentTypeSpec:
    code: str
    duration_minutes: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    required_equipment: frozenset[str] = frozenset()
    # Who may perform it; empty means every provider.
    providers: frozenset[str] = frozenset()

    @property
    def blocked_minutes(self) -> int:
        return self.buffer_before_minutes + self.duration_minutes + self.buffer_after_minutes

    def allows(self, provider_code: str) -> bool:
        return not self.providers or provider_code in self.providers


@dataclass(frozen=True)
class ProviderSpec:
    code: str
    # Local ``[start, end)`` windows per weekday (0 = Monday), sorted by start.
    weekly_hours: Mapping[int, tuple[tuple[dt.time, dt.time], ...]]
    time_off: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class RoomSpec:
    code: str
    equipment: frozenset[str] = frozenset()


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def micros(moment: dt.datetime) -> int:
    """An aware instant as microseconds since the Unix epoch: how the search counts time."""
    return (moment - _EPOCH) // _MICROSECOND


def instant_of(us: int) -> dt.datetime:
    """Microseconds since the Unix epoch as an aware instant in UTC."""
    return _EPOCH + dt.timedelta(microseconds=us)


class Booking(NamedTuple):
    """An active appointment: it holds its provider and room seat over
    ``[blocked_start, blocked_end)`` and its patient over ``[start, end)``.

    The one exception to "datetimes everywhere": a booking's instants are microseconds
    since the Unix epoch (``micros``), as the database hands them over. A snapshot of a
    month holds tens of thousands of bookings, and the search works in integers anyway;
    building a datetime for each instant only to turn it back cost more than the search.
    ``Booking.of`` builds one from datetimes.
    """

    provider: str
    room: str
    patient: str
    start: int
    end: int
    blocked_start: int
    blocked_end: int
    seat: int = 0
    id: int | None = None

    @classmethod
    def of(
        cls,
        *,
        provider: str,
        room: str,
        patient: str,
        start: dt.datetime,
        end: dt.datetime,
        blocked_start: dt.datetime,
        blocked_end: dt.datetime,
        seat: int = 0,
        id: int | None = None,  # noqa: A002 - the appointment's id, as the field is named
    ) -> Booking:
        return cls(
            provider,
            room,
            patient,
            micros(start),
            micros(end),
            micros(blocked_start),
            micros(blocked_end),
            seat,
            id,
        )

    @property
    def blocked(self) -> Interval:
        return Interval(instant_of(self.blocked_start), instant_of(self.blocked_end))

    @property
    def span(self) -> Interval:
        return Interval(instant_of(self.start), instant_of(self.end))


@dataclass(frozen=True)
class OverbookingRule:
    max_extra: int
    provider: str | None = None
    appointment_type: str | None = None


@dataclass(frozen=True)
class PatientPreferences:
    providers: frozenset[str] = frozenset()
    days: frozenset[int] = frozenset()  # weekdays, 0 = Monday
    times: tuple[tuple[dt.time, dt.time], ...] = ()

    @property
    def stated(self) -> bool:
        return bool(self.providers or self.days or self.times)


@dataclass(frozen=True)
class Snapshot:
    """Everything the engine needs to know about one clinic over a range of dates."""

    rules: ClinicRules
    providers: tuple[ProviderSpec, ...]
    rooms: tuple[RoomSpec, ...]
    bookings: tuple[Booking, ...]
    overbooking_rules: tuple[OverbookingRule, ...] = ()
    appointment_types: Mapping[str, AppointmentTypeSpec] = field(default_factory=dict)
    # The shortest blocked length of any type the clinic offers: a gap shorter than this
    # can never be filled, so leaving one is penalised.
    shortest_type_minutes: int = 15
    now: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class SlotQuery:
    appointment_type: AppointmentTypeSpec
    date_from: dt.date
    date_to: dt.date
    provider: str | None = None
    patient: str | None = None
    preferences: PatientPreferences = field(default_factory=PatientPreferences)
    include_overbooking: bool = True


class Factors(NamedTuple):
    preference: float
    compactness: float
    room_switch: float
    overbooking: float


class Slot(NamedTuple):
    """A slot the engine offers (a NamedTuple, like ``Factors``: an answer may hold a
    thousand of them, and a tuple is built several times faster than a frozen dataclass)."""

    start: dt.datetime
    end: dt.datetime
    provider: str
    room: str
    seat: int
    score: float
    factors: Factors
    # Plain-language reasons behind the score, for the staff UI.
    explanation: tuple[str, ...] = ()

    @property
    def overbook(self) -> bool:
        return self.seat > 0


@dataclass(frozen=True)
class SearchResult:
    slots: tuple[Slot, ...]
    total: int

"""Small builders for engine tests: a clinic in a few lines, no database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace
from zoneinfo import ZoneInfo

from scheduling.engine import (
    AppointmentTypeSpec,
    Booking,
    ClinicRules,
    Interval,
    OverbookingRule,
    ProviderSpec,
    RoomSpec,
    SlotQuery,
    Snapshot,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = dt.date(2027, 3, 8)  # a Monday in winter time (UTC+1 in Berlin)


def t(clock: str) -> dt.time:
    return dt.time.fromisoformat(clock)


def at(day: dt.date, clock: str, tz: ZoneInfo = BERLIN) -> dt.datetime:
    return dt.datetime.combine(day, t(clock), tzinfo=tz)


def hours(*windows: tuple[str, str], days: tuple[int, ...] = (0, 1, 2, 3, 4)) -> dict:
    return {d: tuple((t(a), t(b)) for a, b in windows) for d in days}


def provider(code: str = "dr-a", *windows: tuple[str, str], time_off=(), days=(0, 1, 2, 3, 4, 5, 6)):
    return ProviderSpec(
        code=code,
        weekly_hours=hours(*(windows or (("08:00", "12:00"),)), days=days),
        time_off=tuple(Interval(a, b) for a, b in time_off),
    )


def booking(
    provider: str,
    room: str,
    start: dt.datetime,
    minutes: int = 30,
    *,
    patient: str = "p-x",
    seat: int = 0,
    before: int = 0,
    after: int = 0,
) -> Booking:
    end = start + dt.timedelta(minutes=minutes)
    return Booking.of(
        provider=provider,
        room=room,
        patient=patient,
        start=start,
        end=end,
        blocked_start=start - dt.timedelta(minutes=before),
        blocked_end=end + dt.timedelta(minutes=after),
        seat=seat,
    )


def storable(bookings: Iterable[Booking]) -> list[Booking]:
    """The bookings the database could hold together, in order: each one's blocked range
    contains its time (local arithmetic across a DST gap can break that), and none overlaps
    an earlier one on a provider or room seat, or on its patient."""
    kept: list[Booking] = []
    for b in bookings:
        if not (b.blocked_start <= b.start < b.end <= b.blocked_end):
            continue
        clash = any(
            (
                b.seat == k.seat
                and (b.provider == k.provider or b.room == k.room)
                and b.blocked.overlaps(k.blocked)
            )
            or (b.patient == k.patient and b.span.overlaps(k.span))
            for k in kept
        )
        if not clash:
            kept.append(b)
    return kept


CONSULT = AppointmentTypeSpec(code="consult", duration_minutes=30)


def snapshot(*, providers=None, rooms=None, bookings=(), rules=(), tz=BERLIN, now=None, **clinic) -> Snapshot:
    return Snapshot(
        rules=ClinicRules(tz=tz, **clinic),
        providers=tuple(providers or (provider(),)),
        rooms=tuple(rooms or (RoomSpec("r1"),)),
        bookings=tuple(bookings),
        overbooking_rules=tuple(OverbookingRule(**r) for r in rules),
        shortest_type_minutes=15,
        now=now or dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )


def query(
    appointment_type: AppointmentTypeSpec = CONSULT, day: dt.date = MONDAY, to: dt.date | None = None, **kw
) -> SlotQuery:
    return SlotQuery(appointment_type=appointment_type, date_from=day, date_to=to or day, **kw)


def grid(first: str, last: str) -> list[str]:
    """Local starts every 15 minutes from ``first`` to ``last``, inclusive."""
    out, moment = [], dt.datetime.combine(MONDAY, dt.time.fromisoformat(first))
    while moment.strftime("%H:%M") <= last:
        out.append(moment.strftime("%H:%M"))
        moment += dt.timedelta(minutes=15)
    return out


def starts(result, tz: ZoneInfo = BERLIN) -> list[str]:
    return sorted({s.start.astimezone(tz).strftime("%H:%M") for s in result.slots})


__all__ = ["replace"]

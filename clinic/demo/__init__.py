"""The demo clinic: Riverside Family Practice (``riverside.json``) and a realistic week of
bookings around today, loaded through the clinic file loader like any other clinic file.

Every person in it is made up: the surnames are German words for "example", "dummy",
"placeholder" and the like, the emails are at example.org, and the phone numbers have a
Berlin number that cannot exist (a subscriber number starting with 0).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from clinic.clinic_file import LoadReport, Progress, format_datetime, load_clinic_file, parse_clinic_file
from clinic.clinic_file.bookings import Track, seat_limit
from clinic.clinic_file.spec import AppointmentTypeSpec, ClinicFile, ProviderSpec, RoomSpec
from clinic.models import Clinic
from scheduling.models import Appointment

RIVERSIDE = Path(__file__).with_name("riverside.json")
SEED = 20270308
DAYS = 7  # today and the next six
TARGET_UTILIZATION = 0.70
# How often each type is booked, relative to the others.
TYPE_WEIGHTS = {"consult": 6, "checkup": 4, "follow-up": 4, "bp-check": 2, "ecg": 2, "ultrasound": 2}
CANCEL_REASONS = ("Patient is ill", "Rescheduled by phone", "Clashes with work", "No longer needed")
WAITLIST_NOTES = (
    "any morning",
    "can come at short notice",
    "afternoons only",
    "prefers the first slot of the day",
    "not on Fridays",
    "",
)
UTC = dt.UTC


def riverside() -> dict[str, Any]:
    """The demo clinic's resources and patients, as a clinic file."""
    data: dict[str, Any] = json.loads(RIVERSIDE.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class WeekStats:
    days: int = 0
    appointments: int = 0
    overbookings: int = 0
    cancelled: int = 0
    waitlist: int = 0
    working_minutes: int = 0
    booked_minutes: int = 0  # seat 0, not cancelled: the providers' regular time in use

    @property
    def utilization(self) -> float:
        return self.booked_minutes / self.working_minutes if self.working_minutes else 0.0


@dataclass(frozen=True)
class SeedResult:
    report: LoadReport
    week: WeekStats | None  # None: the week had bookings already, none were added


def _grid_after(moment: dt.datetime, window_start: dt.datetime, step: dt.timedelta) -> dt.datetime:
    """The first grid point of the window at or after ``moment``."""
    steps = -((window_start - moment) // step)  # ceiling division
    return window_start + max(steps, 0) * step


class _Week:
    """Books a plausible week: each provider's working time about 70% taken, all on the
    grid, inside the windows, in rooms with the equipment, without any overlap."""

    def __init__(self, file: ClinicFile, now: dt.datetime, seed: int):
        self.file = file
        self.now = now
        self.tz = ZoneInfo(file.clinic.timezone)
        self.today = now.astimezone(self.tz).date()
        self.rng = random.Random(f"{seed}-{self.today.isoformat()}")  # noqa: S311 - demo data
        self.step = dt.timedelta(minutes=file.clinic.slot_minutes)
        self.limit = seat_limit(file.overbooking_rules)
        self.types = {t.code: t for t in file.appointment_types}
        self.patients = [p.code for p in file.patients]
        self.tracks: dict[tuple[str, str, int], Track] = {}
        self.seen_on: set[tuple[str, dt.date]] = set()  # (patient, day): one visit a day
        self.appointments: list[dict[str, Any]] = []
        self.regular: list[tuple[dict[str, Any], dt.datetime, dt.datetime, dt.datetime]] = []
        self.stats = {"days": 0, "overbookings": 0, "cancelled": 0, "working": 0, "booked": 0}

    def track(self, kind: str, code: str, seat: int = 0) -> Track:
        return self.tracks.setdefault((kind, code, seat), Track())

    def windows(self, provider: ProviderSpec, day: dt.date) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        for w in provider.working_hours:
            if w.weekday == day.weekday():
                yield (
                    dt.datetime.combine(day, w.start, tzinfo=self.tz).astimezone(UTC),
                    dt.datetime.combine(day, w.end, tzinfo=self.tz).astimezone(UTC),
                )

    def build(self) -> list[dict[str, Any]]:
        closures = {c.date for c in self.file.clinic.closures}
        for offset in range(DAYS):
            day = self.today + dt.timedelta(days=offset)
            if day in closures or not any(
                w.weekday == day.weekday() for p in self.file.providers for w in p.working_hours
            ):
                continue
            self.stats["days"] += 1
            for provider in self.file.providers:
                self.book_day(provider, day)
        self.overbook(4)
        return self.appointments

    def book_day(self, provider: ProviderSpec, day: dt.date) -> None:
        offered = dt.timedelta()
        used = dt.timedelta()
        for start, end in self.windows(provider, day):
            self.stats["working"] += int((end - start).total_seconds() // 60)
            t = start
            while t < end:
                behind = offered == dt.timedelta() or used / offered < TARGET_UTILIZATION
                booked = None
                if self.rng.random() < (0.9 if behind else 0.25):
                    booked = self.book(provider, day, t, (start, end))
                if booked is None:
                    if self.rng.random() < 0.04:
                        self.cancelled(provider, day, t, (start, end))
                    offered += self.step
                    t += self.step
                    continue
                next_t = _grid_after(booked[1], start, self.step)
                used += booked[0]
                offered += next_t - t
                t = next_t
        self.stats["booked"] += int(used.total_seconds() // 60)

    def candidates(self, provider: ProviderSpec) -> list[AppointmentTypeSpec]:
        """The provider's types in a weighted random order."""
        allowed = [t for t in self.types.values() if t.allows(provider.code)]
        weights = [TYPE_WEIGHTS.get(t.code, 1) * self.rng.random() for t in allowed]
        return [t for _, t in sorted(zip(weights, allowed, strict=True), key=lambda p: -p[0])]

    def rooms_for(self, kind: AppointmentTypeSpec, provider: ProviderSpec) -> list[RoomSpec]:
        """Rooms with the equipment; each provider has a home room it tries first."""
        rooms = [r for r in self.file.rooms if kind.required_equipment <= r.equipment]
        home = sorted(p.code for p in self.file.providers).index(provider.code)
        return sorted(rooms, key=lambda r: (r.code != f"r{home + 3}", len(r.equipment), r.code))

    def book(
        self,
        provider: ProviderSpec,
        day: dt.date,
        start: dt.datetime,
        window: tuple[dt.datetime, dt.datetime],
        *,
        seat: int = 0,
        kinds: list[AppointmentTypeSpec] | None = None,
        room_code: str | None = None,
    ) -> tuple[dt.timedelta, dt.datetime] | None:
        """Book ``start`` with the first type that fits; returns (duration, blocked end)."""
        for kind in kinds or self.candidates(provider):
            duration = dt.timedelta(minutes=kind.duration_minutes)
            blocked_start = start - dt.timedelta(minutes=kind.buffer_before_minutes)
            blocked_end = start + duration + dt.timedelta(minutes=kind.buffer_after_minutes)
            if blocked_start < window[0] or blocked_end > window[1]:
                continue
            if not self.track("provider", provider.code, seat).free(blocked_start, blocked_end):
                continue
            room = next(
                (
                    r
                    for r in self.rooms_for(kind, provider)
                    if (room_code is None or r.code == room_code)
                    and self.track("room", r.code, seat).free(blocked_start, blocked_end)
                ),
                None,
            )
            patient = self.free_patient(day, start, start + duration)
            if room is None or patient is None:
                continue
            self.track("provider", provider.code, seat).add(blocked_start, blocked_end)
            self.track("room", room.code, seat).add(blocked_start, blocked_end)
            self.track("patient", patient).add(start, start + duration)
            self.seen_on.add((patient, day))
            entry: dict[str, Any] = {
                "patient": patient,
                "appointment_type": kind.code,
                "provider": provider.code,
                "room": room.code,
                "start": format_datetime(start, self.tz),
                "status": self.status(start, start + duration),
            }
            if seat:
                entry["overbook"] = True
            else:
                self.regular.append((entry, start, blocked_end, window[1]))
            self.appointments.append(entry)
            return duration, blocked_end
        return None

    def free_patient(self, day: dt.date, start: dt.datetime, end: dt.datetime) -> str | None:
        for _ in range(20):
            patient = self.rng.choice(self.patients)
            if (patient, day) not in self.seen_on and self.track("patient", patient).free(start, end):
                return patient
        return None

    def status(self, start: dt.datetime, end: dt.datetime) -> str:
        """What a booking's status would be by now."""
        roll = self.rng.random()
        if end <= self.now:
            return "no_show" if roll < 0.05 else "completed"
        if start <= self.now:
            return "checked_in"
        return "confirmed" if roll < 0.3 else "booked"

    def cancelled(
        self,
        provider: ProviderSpec,
        day: dt.date,
        start: dt.datetime,
        window: tuple[dt.datetime, dt.datetime],
    ) -> None:
        """A cancelled booking in a gap: freed time, as in any real week."""
        kind = self.types.get("consult")
        if kind is None or start + dt.timedelta(minutes=kind.duration_minutes) > window[1]:
            return
        patient = self.rng.choice(self.patients)
        room = self.rooms_for(kind, provider)[0]
        cancelled_at = (min(self.now, start) - dt.timedelta(hours=self.rng.randint(2, 72))).replace(
            second=0, microsecond=0
        )
        self.appointments.append(
            {
                "patient": patient,
                "appointment_type": kind.code,
                "provider": provider.code,
                "room": room.code,
                "start": format_datetime(start, self.tz),
                "status": "cancelled",
                "cancelled_at": format_datetime(cancelled_at, self.tz),
                "cancel_reason": self.rng.choice(CANCEL_REASONS),
            }
        )
        self.stats["cancelled"] += 1

    def overbook(self, count: int) -> None:
        """A few extra bookings on top of regular ones, where a rule allows it."""
        short = [t for t in self.types.values() if t.duration_minutes <= 15 and not t.required_equipment]
        providers = {p.code: p for p in self.file.providers}
        regular = list(self.regular)
        self.rng.shuffle(regular)
        for entry, start, _blocked_end, window_end in regular:
            if self.stats["overbookings"] >= count:
                return
            provider = providers[entry["provider"]]
            kinds = [
                t
                for t in short
                if t.allows(provider.code) and (self.limit(provider.code, t.code) or (0, ""))[0] >= 1
            ]
            day = start.astimezone(self.tz).date()
            if kinds and self.book(
                provider, day, start, (start, window_end), seat=1, kinds=kinds, room_code=entry["room"]
            ):
                self.stats["overbookings"] += 1

    def waitlist(self, count: int) -> list[dict[str, Any]]:
        entries = []
        for patient in self.rng.sample(self.patients, count):
            kind = self.rng.choice(sorted(self.types))
            allowed = sorted(self.types[kind].providers) or [p.code for p in self.file.providers]
            earliest = self.today + dt.timedelta(days=self.rng.randint(0, 3))
            entries.append(
                {
                    "patient": patient,
                    "appointment_type": kind,
                    "provider": self.rng.choice(allowed) if self.rng.random() < 0.4 else None,
                    "earliest": earliest.isoformat(),
                    "latest": (earliest + dt.timedelta(days=self.rng.randint(7, 21))).isoformat(),
                    "note": self.rng.choice(WAITLIST_NOTES),
                }
            )
        return entries


def demo_week(
    base: dict[str, Any], *, now: dt.datetime, seed: int = SEED
) -> tuple[dict[str, Any], WeekStats]:
    """``base`` (the riverside clinic file) plus a week of bookings from ``now``'s date in
    the clinic's zone, and a waitlist. Deterministic for a given date and seed."""
    parsed = parse_clinic_file(base)
    if parsed.file is None:
        raise ValueError("The demo clinic file is invalid: " + "; ".join(parsed.errors))
    week = _Week(parsed.file, now, seed)
    appointments = week.build()
    waitlist = week.waitlist(10)
    stats = WeekStats(
        days=week.stats["days"],
        appointments=len(appointments),
        overbookings=week.stats["overbookings"],
        cancelled=week.stats["cancelled"],
        waitlist=len(waitlist),
        working_minutes=week.stats["working"],
        booked_minutes=week.stats["booked"],
    )
    return base | {"appointments": appointments, "waitlist": waitlist}, stats


def seed_demo(*, now: dt.datetime | None = None, progress: Progress | None = None) -> SeedResult:
    """Load the demo clinic and, unless this week already has bookings, a week of them.

    Safe to run again: the clinic loads idempotently, and a week that has bookings gets
    no more (so a second run the same day, or the next, adds nothing)."""
    now = now or timezone.now()
    base = riverside()
    tz = ZoneInfo(base["clinic"]["timezone"])
    today = now.astimezone(tz).date()
    week_start = dt.datetime.combine(today, dt.time(0, 0), tzinfo=tz)
    week_end = dt.datetime.combine(today + dt.timedelta(days=DAYS), dt.time(0, 0), tzinfo=tz)
    booked = Appointment.objects.filter(
        clinic__in=Clinic.objects.filter(code=base["clinic"]["code"]),
        start__gte=week_start,
        start__lt=week_end,
    ).exists()
    if booked:
        return SeedResult(report=load_clinic_file(base, progress=progress), week=None)
    data, stats = demo_week(base, now=now)
    return SeedResult(report=load_clinic_file(data, progress=progress), week=stats)

"""The slot-search benchmark: GET /api/v1/slots through the whole Django stack.

    .venv/bin/python bench/slots.py [--runs 50] [--scenario S1,S2,D1,D7,S3,S3-31] [--profile]

It creates a throwaway database (``test_bench_slots`` on the embedded server, or on the
server named by DATABASE_URL), fills it with the clinics the chosen scenarios need (two
generated clinics, and the demo clinic with its week of bookings as ``make demo`` loads
it), times the endpoint with Django's test client and drops the database again. See
bench/README.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import math
import os
import platform
import pstats
import random
import statistics
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
# The API's per-user rate limit would answer 429 to a long run; a benchmark is one user
# asking far more often than any person would.
os.environ.setdefault("API_RATE_LIMIT", "1000000/m")

# WhiteNoise warns that `collectstatic` has not run; the API does not serve static files.
warnings.filterwarnings("ignore", message="No directory at")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from clinic.demo import DAYS as DAYS_SEEDED  # noqa: E402
from clinic.demo import seed_demo  # noqa: E402
from clinic.management.commands.create_api_token import role_group  # noqa: E402
from clinic.models import (  # noqa: E402
    ApiToken,
    AppointmentType,
    Clinic,
    Equipment,
    Membership,
    OverbookingRule,
    Patient,
    Provider,
    Room,
    WorkingHours,
)
from clinic.roles import FRONT_DESK  # noqa: E402
from scheduling import selectors  # noqa: E402
from scheduling.engine import SlotQuery, find_slots  # noqa: E402
from scheduling.models import Appointment  # noqa: E402

SEED = 20270308
TZ = ZoneInfo("Europe/Berlin")
SLOT_MINUTES = 15
BOOKED_SHARE = 0.70  # of each provider's working time, on every benchmark day
OVERBOOKED_SHARE = 0.03  # of the regular bookings get a second patient on seat 1
QUERY_TYPE = "consult"  # what every scenario searches for: all providers, any room
WARMUP = 3

# --- What the generated clinics look like ------------------------------------------------


@dataclass(frozen=True)
class TypeShape:
    code: str
    name: str
    duration: int
    before: int = 0
    after: int = 0
    equipment: tuple[str, ...] = ()
    # Providers whose index modulo 5 is listed perform it; None: every provider.
    performers: tuple[int, ...] | None = None

    def performed_by(self, index: int) -> bool:
        return self.performers is None or index % 5 in self.performers


EQUIPMENT = (("ecg", "ECG machine"), ("ultrasound", "Ultrasound unit"), ("bp_monitor", "BP monitor"))
# Room equipment, cycled over the rooms: the demo's first seven rooms (its eighth has all three).
ROOM_MIXES: tuple[tuple[str, ...], ...] = (
    ("ecg", "bp_monitor"),
    ("ultrasound",),
    ("bp_monitor",),
    (),
    ("ecg",),
    (),
    ("ultrasound", "bp_monitor"),
    (),
)
TYPES = (
    TypeShape("consult", "Consultation", 30),
    TypeShape("short-consult", "Short consultation", 15),
    TypeShape("long-consult", "Long consultation", 45),
    TypeShape("ecg", "ECG check", 30, after=10, equipment=("ecg",), performers=(0, 1)),
    TypeShape(
        "ultrasound", "Ultrasound", 30, before=5, after=10, equipment=("ultrasound",), performers=(2, 3)
    ),
    TypeShape("bp-check", "Blood pressure check", 15, after=5, equipment=("bp_monitor",)),
)
# Local working windows in minutes after midnight, Monday to Friday.
FULL_DAY = ((8 * 60, 17 * 60),)
WITH_LUNCH = ((8 * 60, 12 * 60), (13 * 60, 17 * 60))


@dataclass(frozen=True)
class ClinicShape:
    code: str
    providers: int
    rooms: int
    days: int  # calendar days with bookings, from the first benchmark Monday
    patients: int
    # The generator's seed; "bench-demo" is the code this clinic had before it was renamed,
    # kept so that its data, and so the results, stay the same.
    seed: str


# A generated clinic of the demo's size: NOT the demo clinic (its types are TYPES, where
# `consult` takes 30 minutes; the demo's takes 15).
DEMO_SIZE = ClinicShape("bench-demo-size", providers=5, rooms=8, days=14, patients=400, seed="bench-demo")
LARGE = ClinicShape("bench-large", providers=50, rooms=40, days=31, patients=5000, seed="bench-large")
GENERATED = {shape.code: shape for shape in (DEMO_SIZE, LARGE)}
# The demo clinic itself (clinic/demo/riverside.json), loaded by clinic.demo.seed_demo()
# with its week of bookings from today, as `make demo` loads it.
DEMO_CLINIC = "riverside"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    clinic: str  # a code: one of GENERATED, or DEMO_CLINIC
    days: int
    target_ms: float
    # The first day searched: "monday" is the first Monday at least a week ahead (the
    # generated clinics' bookings start there); "busiest" is the demo week's weekday with
    # the most active bookings, after today; "tomorrow" is the day after today.
    starts: str = "monday"


SCENARIOS = (
    Scenario("S1", "generated clinic of the demo's size (consult 30 min), 1 day", DEMO_SIZE.code, 1, 10),
    Scenario("S2", "generated clinic of the demo's size (consult 30 min), 14 days", DEMO_SIZE.code, 14, 40),
    Scenario(
        "D1",
        "the demo clinic as `make demo` loads it (consult 15 min), its busiest weekday",
        DEMO_CLINIC,
        1,
        10,
        starts="busiest",
    ),
    Scenario(
        "D7",
        "the demo clinic as `make demo` loads it (consult 15 min), 7 days from tomorrow",
        DEMO_CLINIC,
        7,
        40,
        starts="tomorrow",
    ),
    Scenario("S3", "generated large clinic (consult 30 min), 1 day", LARGE.code, 1, 60),
    Scenario("S3-31", "generated large clinic (consult 30 min), 31 days", LARGE.code, 31, 1000),
)


def first_benchmark_day(today: dt.date) -> dt.date:
    """The first Monday at least a week ahead, so that `now` never cuts a benchmark day."""
    day = today + dt.timedelta(days=7)
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)


def busiest_demo_day(clinic: Clinic, today: dt.date) -> dt.date:
    """The demo week's day after today with the most active bookings (the earliest of
    equals). Today is left out: `now` cuts into it, and the notice period with it."""
    counts: defaultdict[dt.date, int] = defaultdict(int)
    for start in Appointment.objects.filter(clinic=clinic).active().values_list("start", flat=True):
        day = timezone.localdate(start, clinic.tz)
        if day > today:
            counts[day] += 1
    if not counts:
        raise RuntimeError("The demo clinic has no bookings after today: seed_demo() did not book its week.")
    return min(counts, key=lambda day: (-counts[day], day))


def scenario_first_day(scenario: Scenario, today: dt.date) -> dt.date:
    if scenario.starts == "monday":
        return first_benchmark_day(today)
    if scenario.starts == "tomorrow":
        return today + dt.timedelta(days=1)
    return busiest_demo_day(Clinic.objects.get(code=scenario.clinic), today)


# --- Bookings, planned in Python ---------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    provider: int
    room: int
    patient: int
    type: TypeShape
    day: dt.date
    start: int  # local minutes after midnight
    seat: int = 0

    @property
    def blocked(self) -> tuple[int, int]:
        return self.start - self.type.before, self.start + self.type.duration + self.type.after


class Occupancy:
    """Who holds which minutes of a day, so that every planned booking passes the
    database's exclusion constraints."""

    def __init__(self) -> None:
        self._held: dict[tuple[Any, ...], list[tuple[int, int]]] = defaultdict(list)

    def free(self, key: tuple[Any, ...], start: int, end: int) -> bool:
        return all(end <= a or b <= start for a, b in self._held[key])

    def hold(self, key: tuple[Any, ...], start: int, end: int) -> None:
        self._held[key].append((start, end))


def windows_of(provider: int) -> tuple[tuple[int, int], ...]:
    return WITH_LUNCH if provider % 2 else FULL_DAY


def plan_bookings(shape: ClinicShape, first_day: dt.date, rng: random.Random) -> list[Planned]:
    """Bookings filling about ``BOOKED_SHARE`` of every provider's working time.

    Random grid starts are tried in random order with a random type the provider performs,
    a free room with the equipment and a free patient, until the day is full enough; then
    a few bookings get an overbooking twin on seat 1.
    """
    held = Occupancy()
    rooms_for = {
        t.code: [r for r in range(shape.rooms) if set(t.equipment) <= set(ROOM_MIXES[r % len(ROOM_MIXES)])]
        for t in TYPES
    }
    planned: list[Planned] = []

    def place(provider: int, t: TypeShape, day: dt.date, start: int, seat: int) -> Planned | None:
        a, b = start - t.before, start + t.duration + t.after
        if not held.free(("provider", provider, seat, day), a, b):
            return None
        rooms = rooms_for[t.code][:]
        rng.shuffle(rooms)
        room = next((r for r in rooms if held.free(("room", r, seat, day), a, b)), None)
        if room is None:
            return None
        patients = (rng.randrange(shape.patients) for _ in range(8))
        patient = next(
            (p for p in patients if held.free(("patient", p, day), start, start + t.duration)), None
        )
        if patient is None:
            return None
        held.hold(("provider", provider, seat, day), a, b)
        held.hold(("room", room, seat, day), a, b)
        held.hold(("patient", patient, day), start, start + t.duration)
        return Planned(provider, room, patient, t, day, start, seat)

    for offset in range(shape.days):
        day = first_day + dt.timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for provider in range(shape.providers):
            windows = windows_of(provider)
            target = BOOKED_SHARE * sum(end - start for start, end in windows)
            allowed = [t for t in TYPES if t.performed_by(provider)]
            starts = [(w, s) for w in windows for s in range(w[0], w[1], SLOT_MINUTES)]
            rng.shuffle(starts)
            booked = 0
            # A second pass fills gaps that a room shortage left on the first.
            for (window_start, window_end), start in starts * 2:
                if booked >= target:
                    break
                t = rng.choice(allowed)
                a, b = start - t.before, start + t.duration + t.after
                if a < window_start or b > window_end:
                    continue
                booking = place(provider, t, day, start, seat=0)
                if booking is not None:
                    planned.append(booking)
                    booked += b - a
    for booking in rng.sample(planned, int(len(planned) * OVERBOOKED_SHARE)):
        twin = place(booking.provider, booking.type, booking.day, booking.start, seat=1)
        if twin is not None:
            planned.append(twin)
    return planned


# --- The database ------------------------------------------------------------------------


def local(day: dt.date, minutes: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=TZ).astimezone(dt.UTC)


@dataclass(frozen=True)
class BuiltClinic:
    clinic: Clinic
    bookings: int
    booked_share: float  # of the providers' working time on weekdays, seat 0 only


def build_clinic(shape: ClinicShape, first_day: dt.date, rng: random.Random) -> BuiltClinic:
    clinic = Clinic.objects.create(
        code=shape.code, name=f"Benchmark {shape.code}", timezone=str(TZ), slot_minutes=SLOT_MINUTES
    )
    equipment = {
        e.code: e
        for e in Equipment.objects.bulk_create(
            [Equipment(clinic=clinic, code=code, name=name) for code, name in EQUIPMENT]
        )
    }
    rooms = Room.objects.bulk_create(
        [Room(clinic=clinic, code=f"r{i + 1:02d}", name=f"Room {i + 1}") for i in range(shape.rooms)]
    )
    Room.equipment.through.objects.bulk_create(
        [
            Room.equipment.through(room_id=room.pk, equipment_id=equipment[code].pk)
            for i, room in enumerate(rooms)
            for code in ROOM_MIXES[i % len(ROOM_MIXES)]
        ]
    )
    providers = Provider.objects.bulk_create(
        [
            Provider(clinic=clinic, code=f"dr-{i + 1:02d}", name=f"Dr. Bench {i + 1}")
            for i in range(shape.providers)
        ]
    )
    WorkingHours.objects.bulk_create(
        [
            WorkingHours(
                provider=provider,
                weekday=weekday,
                start=dt.time(start // 60, start % 60),
                end=dt.time(end // 60, end % 60),
            )
            for i, provider in enumerate(providers)
            for weekday in range(5)
            for start, end in windows_of(i)
        ]
    )
    types = {
        t.code: AppointmentType(
            clinic=clinic,
            code=t.code,
            name=t.name,
            duration_minutes=t.duration,
            buffer_before_minutes=t.before,
            buffer_after_minutes=t.after,
        )
        for t in TYPES
    }
    AppointmentType.objects.bulk_create(types.values())
    AppointmentType.required_equipment.through.objects.bulk_create(
        [
            AppointmentType.required_equipment.through(
                appointmenttype_id=types[t.code].pk, equipment_id=equipment[code].pk
            )
            for t in TYPES
            for code in t.equipment
        ]
    )
    AppointmentType.providers.through.objects.bulk_create(
        [
            AppointmentType.providers.through(appointmenttype_id=types[t.code].pk, provider_id=provider.pk)
            for t in TYPES
            if t.performers is not None
            for i, provider in enumerate(providers)
            if t.performed_by(i)
        ]
    )
    OverbookingRule.objects.create(clinic=clinic, max_extra=1)
    patients = Patient.objects.bulk_create(
        [
            Patient(clinic=clinic, code=f"p-{i + 1:05d}", first_name=f"Bench{i + 1}", last_name="Patient")
            for i in range(shape.patients)
        ],
        batch_size=2000,
    )
    planned = plan_bookings(shape, first_day, rng)
    Appointment.objects.bulk_create(
        [
            Appointment(
                clinic=clinic,
                patient=patients[p.patient],
                appointment_type=types[p.type.code],
                provider=providers[p.provider],
                room=rooms[p.room],
                start=local(p.day, p.start),
                end=local(p.day, p.start + p.type.duration),
                blocked_start=local(p.day, p.blocked[0]),
                blocked_end=local(p.day, p.blocked[1]),
                seat=p.seat,
            )
            for p in planned
        ],
        batch_size=2000,
    )
    working = sum(
        sum(end - start for start, end in windows_of(i))
        for i in range(shape.providers)
        for offset in range(shape.days)
        if (first_day + dt.timedelta(days=offset)).weekday() < 5
    )
    booked = sum(p.blocked[1] - p.blocked[0] for p in planned if p.seat == 0)
    return BuiltClinic(clinic=clinic, bookings=len(planned), booked_share=booked / working)


@contextmanager
def throwaway_database(name: str = "test_bench_slots") -> Iterator[str]:
    """A freshly migrated database of its own, dropped afterwards, whatever happens."""
    # A name of its own: a test run on the same server keeps its `test_<name>` database.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = name
    old_name = connection.settings_dict["NAME"]
    setup_test_environment()
    try:
        created = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            yield created
        finally:
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)
    finally:
        teardown_test_environment()


# --- Measuring ---------------------------------------------------------------------------


class SqlTimer:
    """An execute wrapper: time spent in the database driver's execute, and the count."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.queries = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.queries += 1


@dataclass(frozen=True)
class ClinicInfo:
    """The clinic a scenario ran on, read from the database, and its bookings in range."""

    code: str
    kind: str  # "generated" or "the demo"
    providers: int
    rooms: int
    consult_minutes: int
    bookings_in_range: int  # active bookings (every seat) starting on the searched dates

    @property
    def cell(self) -> str:
        return (
            f"{self.code} ({self.kind}): {self.providers} providers, {self.rooms} rooms,"
            f" {self.bookings_in_range} bookings"
        )


def clinic_info(scenario: Scenario, first_day: dt.date) -> ClinicInfo:
    clinic = Clinic.objects.get(code=scenario.clinic)
    start = dt.datetime.combine(first_day, dt.time(0, 0), tzinfo=clinic.tz)
    end = dt.datetime.combine(first_day + dt.timedelta(days=scenario.days), dt.time(0, 0), tzinfo=clinic.tz)
    return ClinicInfo(
        code=clinic.code,
        kind="generated" if clinic.code in GENERATED else "the demo",
        providers=Provider.objects.filter(clinic=clinic).count(),
        rooms=Room.objects.filter(clinic=clinic).count(),
        consult_minutes=AppointmentType.objects.get(clinic=clinic, code=QUERY_TYPE).duration_minutes,
        bookings_in_range=Appointment.objects.filter(clinic=clinic, start__gte=start, start__lt=end)
        .active()
        .count(),
    )


def dates_cell(first_day: dt.date, days: int) -> str:
    last = first_day + dt.timedelta(days=days - 1)
    if days == 1:
        return f"{first_day:%a %Y-%m-%d}"
    return f"{first_day:%a %Y-%m-%d} to {last:%a %Y-%m-%d} ({days} days)"


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    clinic: ClinicInfo
    first_day: dt.date
    runs: int
    total_ms: list[float]
    sql_ms: list[float]
    snapshot_ms: list[float]
    snapshot_sql_ms: list[float]
    engine_ms: list[float]
    queries: int
    slots_total: int
    snapshot_bookings: int

    @property
    def p50(self) -> float:
        return statistics.median(self.total_ms)

    @property
    def met(self) -> bool:
        return self.p50 <= self.scenario.target_ms


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def slots_path(scenario: Scenario, first_day: dt.date) -> str:
    date_to = first_day + dt.timedelta(days=scenario.days - 1)
    return (
        f"/api/v1/slots?appointment_type={QUERY_TYPE}&date_from={first_day.isoformat()}"
        f"&date_to={date_to.isoformat()}&limit=20&clinic={scenario.clinic}"
    )


def timed_request(client: Client, path: str) -> tuple[float, SqlTimer, int]:
    sql = SqlTimer()
    with connection.execute_wrapper(sql):
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.content[:500]!r}")
    total = response.json()["total"]
    if total <= 0:
        raise RuntimeError(f"GET {path} found no slots: the benchmark's clinic is wrong.")
    return elapsed, sql, total


def build_snapshot(scenario: Scenario, first_day: dt.date) -> Any:
    """The snapshot the endpoint reads for this scenario (the selector's ORM work and SQL)."""
    return selectors.clinic_snapshot(
        clinic=Clinic.objects.get(code=scenario.clinic),
        date_from=first_day,
        date_to=first_day + dt.timedelta(days=scenario.days - 1),
        now=timezone.now(),
    )


def engine_query(scenario: Scenario, first_day: dt.date) -> Any:
    return SlotQuery(
        appointment_type=build_snapshot(scenario, first_day).appointment_types[QUERY_TYPE],
        date_from=first_day,
        date_to=first_day + dt.timedelta(days=scenario.days - 1),
    )


def timed_snapshot(scenario: Scenario, first_day: dt.date) -> tuple[float, SqlTimer, Any]:
    sql = SqlTimer()
    with connection.execute_wrapper(sql):
        started = time.perf_counter()
        snapshot = build_snapshot(scenario, first_day)
        elapsed = time.perf_counter() - started
    return elapsed, sql, snapshot


def timed_engine(snapshot: Any, query: Any) -> float:
    started = time.perf_counter()
    find_slots(snapshot, query, limit=20)
    return time.perf_counter() - started


def measure(scenario: Scenario, clinic: ClinicInfo, client: Client, first_day: dt.date, runs: int) -> Result:
    """Each run times a whole request, then the selector's snapshot alone, then the engine
    alone on that snapshot. Interleaved, so that whatever else the machine is doing weighs
    on the three parts alike and their medians stay comparable."""
    path = slots_path(scenario, first_day)
    query = engine_query(scenario, first_day)
    for _ in range(WARMUP):
        timed_request(client, path)
        timed_engine(timed_snapshot(scenario, first_day)[2], query)
    gc.collect()
    total_ms, sql_ms, queries, slots_total = [], [], [], 0
    snapshot_ms, snapshot_sql_ms, engine_ms, bookings = [], [], [], 0
    for _ in range(runs):
        elapsed, sql, slots_total = timed_request(client, path)
        total_ms.append(elapsed * 1000)
        sql_ms.append(sql.seconds * 1000)
        queries.append(sql.queries)
        elapsed, sql, snapshot = timed_snapshot(scenario, first_day)
        snapshot_ms.append(elapsed * 1000)
        snapshot_sql_ms.append(sql.seconds * 1000)
        bookings = len(snapshot.bookings)
        engine_ms.append(timed_engine(snapshot, query) * 1000)
    return Result(
        scenario=scenario,
        clinic=clinic,
        first_day=first_day,
        runs=runs,
        total_ms=total_ms,
        sql_ms=sql_ms,
        snapshot_ms=snapshot_ms,
        snapshot_sql_ms=snapshot_sql_ms,
        engine_ms=engine_ms,
        # The usual count: once a minute the token's last use is written, one more.
        queries=statistics.mode(queries),
        slots_total=slots_total,
        snapshot_bookings=bookings,
    )


def profile_engine(scenario: Scenario, first_day: dt.date, runs: int = 5) -> str:
    snapshot, query = build_snapshot(scenario, first_day), engine_query(scenario, first_day)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        find_slots(snapshot, query, limit=20)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
    return out.getvalue()


# --- Reporting ---------------------------------------------------------------------------


def machine() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded server"
    # Other work on the machine shows up in the percentiles; say how busy it was.
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores ({cpu}), load average {load}; Python {platform.python_version()},"
        f" Django {django.get_version()}, PostgreSQL {postgres} ({where})"
    )


CLINIC_COLUMN = "clinic: code, providers, rooms, bookings in range"


def table(results: list[Result]) -> str:
    columns = (
        "scenario",
        CLINIC_COLUMN,
        "dates searched",
        "runs",
        "p50 ms",
        "p95 ms",
        "max ms",
        "SQL p50 ms",
        "engine p50 ms",
        "queries",
    )
    lines = ["| " + " | ".join((*columns, "target", "met?")) + " |", "|" + "---|" * 12]
    for r in results:
        lines.append(
            f"| {r.scenario.name} | {r.clinic.cell} | {dates_cell(r.first_day, r.scenario.days)}"
            f" | {r.runs} | {r.p50:.1f} | {percentile(r.total_ms, 0.95):.1f}"
            f" | {max(r.total_ms):.1f} | {statistics.median(r.sql_ms):.1f}"
            f" | {statistics.median(r.engine_ms):.1f} | {r.queries}"
            f" | p50 ≤ {r.scenario.target_ms:g} ms | {'yes' if r.met else 'NO'} |"
        )
    return "\n".join(lines)


def breakdown(results: list[Result]) -> str:
    """Where a request's p50 goes, from separately timed parts (p50 each)."""
    lines = [
        f"| scenario | {CLINIC_COLUMN} | request | snapshot (ORM + SQL) | of which SQL | engine"
        " | rest: auth, lookups, ninja, JSON | bookings read | slots found |",
        "|" + "---|" * 9,
    ]
    for r in results:
        snapshot = statistics.median(r.snapshot_ms)
        engine = statistics.median(r.engine_ms)
        lines.append(
            f"| {r.scenario.name} | {r.clinic.cell} | {r.p50:.1f} | {snapshot:.1f} | {statistics.median(r.snapshot_sql_ms):.1f}"
            f" | {engine:.1f} | {r.p50 - snapshot - engine:.1f} | {r.snapshot_bookings} | {r.slots_total} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark GET /api/v1/slots end to end.")
    parser.add_argument("--runs", type=int, default=50, help="timed requests per scenario (default 50)")
    parser.add_argument(
        "--scenario",
        default=",".join(s.name for s in SCENARIOS),
        help="comma-separated, from: " + ", ".join(s.name for s in SCENARIOS),
    )
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the engine")
    args = parser.parse_args(argv)
    by_name = {s.name.lower(): s for s in SCENARIOS}
    wanted = [name.strip().lower() for name in args.scenario.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in by_name]
    if unknown or not wanted or args.runs < 1:
        parser.error(f"unknown scenario(s) {unknown}" if unknown else "nothing to run")
    scenarios = [by_name[name] for name in wanted]

    now = timezone.now()
    today = timezone.localdate(now, TZ)
    with throwaway_database() as name:
        clinics = dict.fromkeys(s.clinic for s in scenarios)
        print(
            f"database: {name} (throwaway)"
            + (
                f"; the generated clinics' bookings start on {first_benchmark_day(today):%a %Y-%m-%d}"
                if set(clinics) & set(GENERATED)
                else ""
            ),
            flush=True,
        )
        for code in clinics:
            started = time.perf_counter()
            if code == DEMO_CLINIC:
                seeded = seed_demo(now=now)
                week = seeded.week
                print(
                    f"loaded {DEMO_CLINIC}, the demo clinic, with seed_demo() as `make demo` does:"
                    + (
                        f" {week.appointments} bookings over {DAYS_SEEDED} days from {today:%a %Y-%m-%d}"
                        f" ({week.cancelled} cancelled), {week.utilization:.0%} of working time booked"
                        if week is not None
                        else " no bookings added"
                    )
                    + f" ({time.perf_counter() - started:.1f} s)",
                    flush=True,
                )
                continue
            shape = GENERATED[code]
            # A generator per clinic: the same clinic whichever scenarios run.
            built = build_clinic(shape, first_benchmark_day(today), random.Random(f"{SEED}-{shape.seed}"))
            print(
                f"built {shape.code} (generated): {shape.providers} providers, {shape.rooms} rooms,"
                f" {built.bookings} bookings over {shape.days} days,"
                f" {built.booked_share:.0%} of working time booked"
                f" ({time.perf_counter() - started:.1f} s)",
                flush=True,
            )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would give a live database
        # A front-desk user working for every clinic here: reads need the role's view
        # permissions, and with several clinics in the database, a membership of each.
        user = get_user_model().objects.create_user("bench", is_staff=True)
        user.groups.add(role_group(FRONT_DESK))
        Membership.objects.bulk_create(
            [Membership(user=user, clinic=clinic) for clinic in Clinic.objects.all()]
        )
        _, raw_token = ApiToken.issue(user)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")

        results = []
        first_days = {}
        for scenario in scenarios:
            first_day = first_days[scenario.name] = scenario_first_day(scenario, today)
            info = clinic_info(scenario, first_day)
            result = measure(scenario, info, client, first_day, args.runs)
            print(
                f"{scenario.name}: {scenario.description}; {info.cell} on"
                f" {dates_cell(first_day, scenario.days)}; {result.snapshot_bookings} bookings in the"
                f" snapshot, {result.slots_total} slots found",
                flush=True,
            )
            results.append(result)

        print()
        print(machine())
        print(f"query: appointment_type={QUERY_TYPE} (every provider, any room), limit=20; clinics:")
        for code in clinics:
            info = next(r.clinic for r in results if r.clinic.code == code)
            what = (
                "the demo clinic (clinic/demo/riverside.json) with the week of bookings seed_demo() gives it"
                if code == DEMO_CLINIC
                else "generated, " + ("the demo's size" if code == DEMO_SIZE.code else "large")
            )
            print(
                f"- {code}: {what}; {info.providers} providers, {info.rooms} rooms,"
                f" {QUERY_TYPE} {info.consult_minutes} min"
            )
        print(table(results))
        print("\nWhere the time goes, p50 in ms:")
        print(breakdown(results))
        if args.profile:
            for scenario in scenarios:
                print(f"\ncProfile of find_slots, {scenario.name}, 5 runs, by own time:")
                print(profile_engine(scenario, first_days[scenario.name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

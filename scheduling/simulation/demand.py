"""The simulated month's demand, drawn once from the seed and replayed for every policy.

Pure Python over the parsed clinic file: no database. Everything random is drawn here
(or, for decisions that depend on what a policy offers, from ``draw``, a hash of the seed
and the decision's names), so two policies meet exactly the same patients, requests,
cancellations and no-shows, and the same seed gives the same month.

The assumptions, each a constant below:

- **Calendar.** The simulated period is the first ``days`` working days from
  ``START`` (a working day: some provider has hours that weekday and it is no closure).
  Bookable minutes are each provider's working windows those days, minus time off.
- **Demand.** For each simulated day, requests whose appointments (type's blocked minutes,
  buffers included) add up to ``DEMAND_RATIO`` (115 %) of that day's bookable minutes;
  types drawn with the demo's weights (``clinic.demo.TYPE_WEIGHTS``, 1 for other codes).
  Each request is made on one of the working days 1-21 calendar days before (uniform), at
  a uniform minute of the clinic's opening hours, by a new patient, who will take
  a day within ``FLEX`` working days of the wished-for one (0, 1 or 2). Two working days
  before and after the period are simulated the same way but not measured, so the
  period's first and last days meet the same demand as the others.
- **Patients.** 30 % name a provider (one who performs the type), 30 % two or three
  weekdays, 40 % a morning or afternoon; independently. A patient hears at most ``OFFERS``
  slots, in the policy's order, and accepts each with probability ``UNMET_ACCEPT`` to the
  power of the stated preferences it misses (a slot meeting all of them: certainly); no
  acceptable slot: the patient joins the waitlist (``WAITS``, 70 %) or goes elsewhere.
- **Cancellations.** 10 % of requests cancel their booking, 1-72 hours before its start
  (uniform, and never before it was made).
- **Backfill offers** (the backfill policies): each candidate the cancellation service
  returns is offered the freed slot in its order and accepts with probability
  ``accept_offer(hours of notice)`` = 0.85 · (1 - e^(-hours/12)): 7 % at one hour, 33 %
  at six, 54 % at twelve, 74 % a day ahead, 85 % at three days.
- **No-shows.** A rate per provider × type, log-normally spread (σ 0.5) around 8 % and
  scaled so that their mean, weighted by how often each pair is expected (the type's
  weight shared among its providers), is 8 %; a booked
  request does not come when its uniform draw falls below the rate of the provider and
  type it ended up with.
- **History** (for the overbooking policy's recommendation): the 90 days before the
  first request, each provider's windows filled to 85 % with completed visits and
  no-shows at those same rates (independent draws), loaded as history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from clinic.clinic_file import ClinicFile, format_datetime
from clinic.demo import TYPE_WEIGHTS
from clinic.models import WEEKDAY_KEYS
from scheduling.simulation.intervals import Span, minutes, subtract, union

START = dt.date(2027, 3, 1)  # a fixed Monday: the month must not depend on today's date
DEMAND_RATIO = 1.15
MAX_LEAD_DAYS = 21
FLEX = ((0, 0.2), (1, 0.4), (2, 0.4))  # working days either side, with their weights
OFFERS = 10
UNMET_ACCEPT = 0.4
WAITS = 0.7
CANCEL_SHARE = 0.10
CANCEL_LEAD_HOURS = (1.0, 72.0)
NO_SHOW_MEAN = 0.08
NO_SHOW_SPREAD = 0.5
OFFER_ACCEPT_MAX = 0.85
OFFER_ACCEPT_HOURS = 12.0
HISTORY_DAYS = 90
HISTORY_FILL = 0.85
PREFERS_PROVIDER, PREFERS_DAYS, PREFERS_TIMES = 0.3, 0.3, 0.4
NOON = dt.time(12, 0)
UTC = dt.UTC


def draw(*names: object) -> float:
    """A uniform number in [0, 1) fixed by ``names`` (the seed among them): the same
    decision gets the same answer in every policy and every run. (Python's ``hash`` is
    salted per process, so a real digest.)"""
    digest = hashlib.blake2b(repr(names).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def accept_offer(notice: dt.timedelta) -> float:
    """The chance that a patient takes a freed slot offered ``notice`` ahead."""
    hours = max(notice.total_seconds() / 3600, 0.0)
    return OFFER_ACCEPT_MAX * (1 - math.exp(-hours / OFFER_ACCEPT_HOURS))


@dataclass(frozen=True)
class Preferences:
    providers: frozenset[str] = frozenset()
    days: frozenset[int] = frozenset()  # weekdays, 0 = Monday
    times: tuple[tuple[dt.time, dt.time], ...] = ()

    @property
    def stated(self) -> int:
        return sum(1 for stated in (self.providers, self.days, self.times) if stated)

    def met(self, provider: str, start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> int:
        """How many of the stated preferences a slot meets (a time range: the whole visit
        inside it)."""
        local_start, local_end = start.astimezone(tz), end.astimezone(tz)
        met = 0
        if self.providers and provider in self.providers:
            met += 1
        if self.days and local_start.weekday() in self.days:
            met += 1
        if self.times and any(
            low <= local_start.time() and local_end.time() <= high and local_end.date() == local_start.date()
            for low, high in self.times
        ):
            met += 1
        return met

    def as_file(self) -> dict[str, Any]:
        prefs: dict[str, Any] = {}
        if self.providers:
            prefs["providers"] = sorted(self.providers)
        if self.days:
            prefs["days"] = [WEEKDAY_KEYS[d] for d in sorted(self.days)]
        if self.times:
            prefs["times"] = [[f"{lo:%H:%M}", f"{hi:%H:%M}"] for lo, hi in self.times]
        return prefs


@dataclass(frozen=True)
class Request:
    index: int
    patient: str  # a new patient's code
    appointment_type: str
    minutes: int  # the type's blocked minutes, buffers included
    at: dt.datetime  # when the patient calls (UTC)
    day: dt.date  # the local date of the call
    wished: dt.date
    earliest: dt.date
    latest: dt.date
    preferences: Preferences
    waits: bool
    cancels: bool
    cancel_draw: float  # where in the allowed 1-72 h the cancellation falls
    no_show_draw: float


@dataclass(frozen=True)
class Calendar:
    """The clinic's working days and bookable time, read from its file."""

    file: ClinicFile
    tz: ZoneInfo = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tz", ZoneInfo(self.file.clinic.timezone))

    @property
    def closures(self) -> set[dt.date]:
        return {c.date for c in self.file.clinic.closures}

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.closures:
            return False
        return any(w.weekday == day.weekday() for p in self.file.providers for w in p.working_hours)

    def working_days_from(self, day: dt.date, count: int) -> list[dt.date]:
        if not any(p.working_hours for p in self.file.providers):
            return []
        found: list[dt.date] = []
        while len(found) < count:
            if self.is_working_day(day):
                found.append(day)
            day += dt.timedelta(days=1)
        return found

    def working_days_before(self, day: dt.date, count: int) -> list[dt.date]:
        found: list[dt.date] = []
        while len(found) < count:
            day -= dt.timedelta(days=1)
            if self.is_working_day(day):
                found.insert(0, day)
        return found

    def instant(self, day: dt.date, clock: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, clock, tzinfo=self.tz).astimezone(UTC)

    def bookable(self, provider: str, day: dt.date) -> list[Span]:
        """The provider's working time that day as real instants, minus time off."""
        if day in self.closures:
            return []
        spec = next(p for p in self.file.providers if p.code == provider)
        windows = union(
            (self.instant(day, w.start), self.instant(day, w.end))
            for w in spec.working_hours
            if w.weekday == day.weekday()
        )
        return subtract(windows, union((t.start, t.end) for t in spec.time_off))

    def opening(self, day: dt.date) -> tuple[dt.time, dt.time]:
        """From the first provider's start to the last one's end that weekday."""
        windows = [w for p in self.file.providers for w in p.working_hours if w.weekday == day.weekday()]
        if not windows:
            return dt.time(8), dt.time(17)
        return min(w.start for w in windows), max(w.end for w in windows)


@dataclass(frozen=True)
class Demand:
    seed: int
    calendar: Calendar
    days: tuple[dt.date, ...]  # the measured working days (the period)
    simulated: tuple[dt.date, ...]  # the period and its margins, all simulated
    requests: tuple[Request, ...]  # in call order
    no_show_rates: dict[tuple[str, str], float]  # (provider, type) -> rate

    def in_period(self, r: Request) -> bool:
        """Is this request part of the period's demand (its wished day in the period)?"""
        return self.days[0] <= r.wished <= self.days[-1]

    @property
    def tz(self) -> ZoneInfo:
        return self.calendar.tz

    @property
    def first_call(self) -> dt.datetime:
        return self.requests[0].at if self.requests else self.calendar.instant(self.days[0], dt.time(0))

    def bookable_minutes(self, provider: str, day: dt.date) -> float:
        return minutes(self.calendar.bookable(provider, day))

    def patients(self) -> list[dict[str, Any]]:
        """The requests' patients as clinic-file entries."""
        patients = []
        for r in self.requests:
            entry: dict[str, Any] = {
                "code": r.patient,
                "first_name": "Sim",
                "last_name": f"Patient {r.index}",
            }
            if r.preferences.stated:
                entry["preferences"] = r.preferences.as_file()
            patients.append(entry)
        return patients

    def history(self) -> list[dict[str, Any]]:
        """Completed visits and no-shows over the ``HISTORY_DAYS`` before the first call,
        as clinic-file appointments (history holds no time, so they need no free seats)."""
        return list(_history(self))


def generate(file: ClinicFile, *, days: int, seed: int) -> Demand:
    """The whole month's demand for ``file``'s clinic, fixed by ``seed``."""
    calendar = Calendar(file)
    rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
    measured = tuple(calendar.working_days_from(START, days))
    types = {t.code: t for t in file.appointment_types}
    providers = [p.code for p in file.providers]
    performable = [t for t in types.values() if any(t.allows(p) for p in providers)]
    weights = [TYPE_WEIGHTS.get(t.code, 1) for t in performable]
    blocked = {
        t.code: t.buffer_before_minutes + t.duration_minutes + t.buffer_after_minutes for t in performable
    }

    # The period is simulated with a margin of working days on either side that is not
    # measured: the first and last days then meet the same demand as any other (callers
    # whose wished day lies outside take a day inside, and the other way round).
    margin = max(f for f, _ in FLEX)
    simulated = (
        calendar.working_days_before(measured[0], margin)
        + list(measured)
        + calendar.working_days_from(measured[-1] + dt.timedelta(days=1), margin)
        if measured
        else []
    )
    drafts: list[tuple[dt.datetime, int, dict[str, Any]]] = []
    for index, wished in enumerate(simulated):
        # Patients call on working days only: any of those 1-21 days before the wished one.
        call_days = [
            wished - dt.timedelta(days=lead)
            for lead in range(1, MAX_LEAD_DAYS + 1)
            if calendar.is_working_day(wished - dt.timedelta(days=lead))
        ] or [wished - dt.timedelta(days=1)]
        capacity = sum(minutes(calendar.bookable(p, wished)) for p in providers)
        wanted = 0.0
        while performable and wanted < DEMAND_RATIO * capacity:
            kind = rng.choices(performable, weights)[0]
            wanted += blocked[kind.code]
            day = rng.choice(call_days)
            opens, closes = calendar.opening(day)
            span = int((calendar.instant(day, closes) - calendar.instant(day, opens)).total_seconds() // 60)
            at = calendar.instant(day, opens) + dt.timedelta(minutes=rng.randrange(max(span, 1)))
            flex = rng.choices([f for f, _ in FLEX], [w for _, w in FLEX])[0]
            # Within the simulated days and after the call (the wished day always is).
            window = [d for d in simulated[max(0, index - flex) : index + flex + 1] if d > day]
            allowed = sorted(p for p in providers if kind.allows(p))
            values = {
                "appointment_type": kind.code,
                "minutes": blocked[kind.code],
                "at": at,
                "day": day,
                "wished": wished,
                "earliest": window[0],
                "latest": window[-1],
                "preferences": _preferences(rng, calendar, allowed, day),
                "waits": rng.random() < WAITS,
                "cancels": rng.random() < CANCEL_SHARE,
                "cancel_draw": rng.random(),
                "no_show_draw": rng.random(),
            }
            drafts.append((at, len(drafts), values))
    requests = tuple(
        Request(index=i, patient=f"sim-{i:05d}", **values)
        for i, (_, _, values) in enumerate(sorted(drafts, key=lambda d: (d[0], d[1])))
    )
    return Demand(
        seed=seed,
        calendar=calendar,
        days=measured,
        simulated=tuple(simulated),
        requests=requests,
        no_show_rates=_no_show_rates(rng, providers, performable),
    )


def _preferences(rng: random.Random, calendar: Calendar, allowed: list[str], day: dt.date) -> Preferences:
    working_weekdays = sorted({w.weekday for p in calendar.file.providers for w in p.working_hours})
    providers: frozenset[str] = frozenset()
    days: frozenset[int] = frozenset()
    times: tuple[tuple[dt.time, dt.time], ...] = ()
    if allowed and rng.random() < PREFERS_PROVIDER:
        providers = frozenset({rng.choice(allowed)})
    if len(working_weekdays) > 2 and rng.random() < PREFERS_DAYS:
        days = frozenset(rng.sample(working_weekdays, rng.randint(2, 3)))
    if rng.random() < PREFERS_TIMES:
        opens, closes = calendar.opening(day)
        if opens < NOON < closes:
            times = ((opens, NOON),) if rng.random() < 0.5 else ((NOON, closes),)
    return Preferences(providers=providers, days=days, times=times)


def _no_show_rates(
    rng: random.Random, providers: list[str], types: Iterable[Any]
) -> dict[tuple[str, str], float]:
    types = list(types)
    # How often each pair occurs, roughly: the type's weight shared among its providers.
    share = {
        (p, t.code): TYPE_WEIGHTS.get(t.code, 1) / sum(1 for q in providers if t.allows(q))
        for t in types
        for p in providers
        if t.allows(p)
    }
    provider_factor = {p: rng.lognormvariate(0, NO_SHOW_SPREAD) for p in providers}
    type_factor = {t.code: rng.lognormvariate(0, NO_SHOW_SPREAD) for t in types}
    raw = {(p, t): provider_factor[p] * type_factor[t] for p, t in share}
    if not raw:
        return {}
    scale = NO_SHOW_MEAN * sum(share.values()) / sum(raw[pair] * w for pair, w in share.items())
    # Scaling keeps the mean; the cap (rarely reached) keeps a pair plausible.
    return {pair: round(min(value * scale, 0.5), 4) for pair, value in sorted(raw.items())}


def _history(demand: Demand) -> Iterator[dict[str, Any]]:
    calendar, file = demand.calendar, demand.calendar.file
    rng = random.Random(f"{demand.seed}-history")  # noqa: S311 - a simulation
    patients = [r.patient for r in demand.requests]
    if not patients:
        return
    first = demand.first_call.astimezone(demand.tz).date()
    step = dt.timedelta(minutes=file.clinic.slot_minutes)
    for offset in range(HISTORY_DAYS, 0, -1):
        day = first - dt.timedelta(days=offset)
        if not calendar.is_working_day(day):
            continue
        for provider in file.providers:
            kinds = [t for t in file.appointment_types if t.allows(provider.code)]
            rooms = {
                t.code: next((r.code for r in file.rooms if t.required_equipment <= r.equipment), None)
                for t in kinds
            }
            kinds = [t for t in kinds if rooms[t.code] is not None]
            if not kinds:
                continue
            weights = [TYPE_WEIGHTS.get(t.code, 1) for t in kinds]
            for window_start, window_end in calendar.bookable(provider.code, day):
                t = window_start
                while t < window_end:
                    kind = rng.choices(kinds, weights)[0]
                    # On the grid, with the buffer before it inside the window.
                    start = t + step * math.ceil(dt.timedelta(minutes=kind.buffer_before_minutes) / step)
                    end = start + dt.timedelta(minutes=kind.duration_minutes)
                    blocked_end = end + dt.timedelta(minutes=kind.buffer_after_minutes)
                    if blocked_end > window_end:
                        break
                    if rng.random() >= HISTORY_FILL:
                        t += step
                        continue
                    rate = demand.no_show_rates[provider.code, kind.code]
                    yield {
                        "patient": rng.choice(patients),
                        "appointment_type": kind.code,
                        "provider": provider.code,
                        "room": rooms[kind.code],
                        "start": format_datetime(start, calendar.tz),
                        "status": "no_show" if rng.random() < rate else "completed",
                    }
                    # The next visit starts on the grid after this one's blocked end.
                    t += step * math.ceil((blocked_end - t) / step)

"""Data-driven overbooking (issue 12, item 2): how many extra patients each provider × type
can take, from its own no-show history, and applying that as overbooking rules.

The model
---------
*Rate.* For a provider × appointment type, the no-show rate is no-shows / appointments with a
known outcome (checked in, completed, no-show: ``scheduling.jobs.OUTCOME_KNOWN``) among the
appointments that ended in the last ``days`` days (default 90). Below
``MIN_APPOINTMENTS`` such appointments nothing is recommended, and ``note`` says why: a rate
from a handful of visits is noise.

*Session.* A contiguous working window of the provider (08:00-12:00; windows that touch are
one). Its ``session_seats`` are how many appointments of the type fit in it back to back,
on the clinic's grid, buffers included, exactly as the engine places regular seats. A
provider with windows of several lengths is judged on each, and the most cautious answer
wins (``session_seats`` reports the shortest window's seats).

*Risk.* Every booked patient comes independently with probability ``1 - rate``. With
``e`` extra patients booked into a session of ``n`` seats, the patients who come are
``X ~ Binomial(n + e, 1 - rate)`` and the risk is ``P(X > n)``: more patients come than
the session has seats for, so someone is seen in overtime. ``extra_seats`` gives the most
extra patients per session whose risk stays below the clinic's ``overbooking_risk``.

*Minutes won.* ``(E[min(X, n)] - E[min(Y, n)]) × duration`` with ``Y ~ Binomial(n, 1 -
rate)``: the expected extra patients seen within the session's seats (an extra patient
seen in overtime wins nothing), in minutes of the type's duration, per session.

What a rule can say
-------------------
``OverbookingRule.max_extra`` is not per session: the engine offers seats 1..max_extra at
*every* time where the provider's regular seat 0 is taken (``scheduling.engine.search``).
A rule of 1 therefore lets each of a session's ``n`` regular appointments take one more
patient: up to ``n`` extra per session, not one. So the two numbers differ:

- ``extra_per_session`` (with ``session_risk``, ``session_minutes_won``) is the binomial
  answer: what a per-session allowance of extra patients could safely be;
- ``max_extra`` (with ``risk``, ``expected_minutes_won``) is the rule this module
  recommends and applies: the most seats per time such that even a session *full* of them
  (``max_extra × n`` extra patients: each seat level holds at most ``n`` of the type's
  appointments in a window, as seat 0 does) stays below the limit. Since the risk only
  grows with more extra patients, that is ``extra_per_session // n`` (over every window
  length), and ``risk`` is that full session's risk. That is why an applied recommendation
  is safe under the model: no booking of this type the engine then allows can push a
  session of it past the clinic's limit, however full the book is.

What the numbers say: at ordinary rates even one extra patient per session is too many for
a 5 % limit (one extra in a 16-seat session needs more than 16 % no-shows, in an 8-seat
session more than 28 %); from about 20-30 % a session can take one to three. A rule can
only say one per regular seat, which a 5 % limit allows from about 65 % no-shows. So
``max_extra`` is 0 for nearly every pair while ``extra_per_session`` may not be: turning
the per-session answer into bookings needs the engine to count extra seats per session.
Until it does, the rule errs on the safe side.

``recommend`` only reads; ``apply_recommendations`` writes rules, and only when an admin
(or another explicit caller) asks: nothing here runs on its own.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db.models import Count, Q
from django.utils import timezone

from clinic.errors import NotFound, ValidationFailed
from clinic.models import AppointmentType, Clinic, OverbookingRule, Provider, WorkingHours
from clinic.transactions import service_transaction
from scheduling.engine import OverbookingRule as RuleSpec
from scheduling.engine.rules import max_extra_seats
from scheduling.jobs import OUTCOME_KNOWN
from scheduling.models import Appointment, AppointmentStatus

# Fewer appointments with a known outcome than this, and no rate is trusted: at 30 visits
# an 8 % rate is known to within about ±10 points (95 %), which is already generous.
MIN_APPOINTMENTS = 30
DEFAULT_DAYS = 90
MAX_DAYS = 3650
# No session is ever recommended more extra patients than this, whatever its rate.
MAX_EXTRA_PER_SESSION = 20
# What an applied rule may say (OverbookingRule.max_extra is a small integer).
MAX_RULE_SEATS = MAX_EXTRA_PER_SESSION


@dataclass(frozen=True)
class Recommendation:
    provider: str  # provider code
    appointment_type: str  # appointment type code
    appointments: int  # past appointments (attended + no-show) the rate rests on
    no_show_rate: float  # from those appointments (0.0 when there are none)
    session_seats: int  # regular seats in one session (the shortest working window)
    max_extra: int  # the recommended OverbookingRule.max_extra; 0 = do not overbook
    risk: float  # P(more patients come than the session's seats) with max_extra in every seat
    expected_minutes_won: float  # per session, minutes of the type's duration, with max_extra
    current_max_extra: int  # what the clinic's rules give today (engine.rules.max_extra_seats)
    no_shows: int = 0
    duration_minutes: int = 0
    extra_per_session: int = 0  # the most extra patients per session under the risk limit
    session_risk: float = 0.0  # the risk with extra_per_session extra patients
    session_minutes_won: float = 0.0  # minutes won per session with extra_per_session
    note: str = ""  # why nothing is recommended; empty when something is

    @property
    def recommended(self) -> bool:
        """Whether the data supports a recommendation (enough appointments, a session)."""
        return not self.note


# --- The calculation (pure) -------------------------------------------------------------


def _check(no_show_rate: float, session_seats: int) -> float:
    """The chance a booked patient comes, after checking the inputs."""
    if not 0.0 <= no_show_rate <= 1.0:
        raise ValueError(f"no_show_rate must be within 0..1, not {no_show_rate}")
    if session_seats < 1:
        raise ValueError(f"session_seats must be at least 1, not {session_seats}")
    return 1.0 - no_show_rate


def _pmf(trials: int, p: float) -> list[float]:
    """P(X = x) for x = 0..trials, X ~ Binomial(trials, p)."""
    return [math.comb(trials, x) * p**x * (1.0 - p) ** (trials - x) for x in range(trials + 1)]


def overtime_risk(no_show_rate: float, session_seats: int, extra: int) -> float:
    """P(X > session_seats) for X ~ Binomial(session_seats + extra, 1 - no_show_rate)."""
    p = _check(no_show_rate, session_seats)
    return math.fsum(_pmf(session_seats + extra, p)[session_seats + 1 :])


def extra_patients_seen(no_show_rate: float, session_seats: int, extra: int) -> float:
    """E[min(X, n)] - E[min(Y, n)]: how many more patients are seen within the session's
    ``n`` seats with ``extra`` more booked (X over n + extra bookings, Y over n)."""
    p = _check(no_show_rate, session_seats)
    n = session_seats
    seen = math.fsum(min(x, n) * q for x, q in enumerate(_pmf(n + extra, p)))
    return max(0.0, seen - n * p)


def extra_seats(
    no_show_rate: float, session_seats: int, risk_limit: float, *, cap: int = MAX_EXTRA_PER_SESSION
) -> tuple[int, float]:
    """Pure: the most extra seats k (0..cap) with P(X > session_seats) < risk_limit for
    X ~ Binomial(session_seats + k, 1 - no_show_rate); returns (k, that probability).

    The risk grows with k, so the search stops at the first k over the limit. k = 0 (no
    overbooking, no risk) is the answer when even one extra patient is too many.
    """
    _check(no_show_rate, session_seats)
    if not 0.0 <= risk_limit <= 1.0:
        raise ValueError(f"risk_limit must be within 0..1, not {risk_limit}")
    if cap < 0:
        raise ValueError(f"cap must not be negative, not {cap}")
    best, best_risk = 0, 0.0
    for k in range(1, cap + 1):
        risk = overtime_risk(no_show_rate, session_seats, k)
        if risk >= risk_limit:
            break
        best, best_risk = k, risk
    return best, best_risk


@dataclass(frozen=True)
class Advice:
    """The calculation for one rate over the sessions of one provider and type."""

    session_seats: int
    extra_per_session: int
    session_risk: float
    session_extra_seen: float
    max_extra: int
    risk: float
    extra_seen: float


def advise(no_show_rate: float, session_sizes: Iterable[int], risk_limit: float) -> Advice:
    """Pure: the per-session answer and the rule for sessions of these seat counts; each
    answer is the most cautious over the sizes. Reported per session of the smallest size.

    The rule ``m`` is safe for a size ``n`` when a session full of it (``m × n`` extra
    patients) is: ``m × n <= extra_seats(n)``, since the risk grows with every extra patient.
    """
    sizes = sorted(set(session_sizes))
    if not sizes:
        raise ValueError("at least one session size is needed")
    per_size = {n: extra_seats(no_show_rate, n, risk_limit)[0] for n in sizes}
    k = min(per_size.values())
    rule = min(extra // n for n, extra in per_size.items())
    smallest = sizes[0]
    return Advice(
        session_seats=smallest,
        extra_per_session=k,
        session_risk=max(overtime_risk(no_show_rate, n, k) for n in sizes),
        session_extra_seen=extra_patients_seen(no_show_rate, smallest, k),
        max_extra=rule,
        risk=max(overtime_risk(no_show_rate, n, rule * n) for n in sizes),
        extra_seen=extra_patients_seen(no_show_rate, smallest, rule * smallest),
    )


def seats_in_window(
    window_minutes: int,
    *,
    slot_minutes: int,
    duration_minutes: int,
    buffer_before_minutes: int = 0,
    buffer_after_minutes: int = 0,
) -> int:
    """Pure: how many appointments fit back to back in a window, as the engine places them:
    starts on the grid counted from the window's start, each blocked range (buffers
    included) inside the window and clear of the one before. Earliest-first is the most
    that fit."""
    step = slot_minutes
    fitted = 0
    start, free_from = 0, 0
    while True:
        # The next grid start whose blocked range begins after the previous one ends.
        while start - buffer_before_minutes < free_from:
            start += step
        free_from = start + duration_minutes + buffer_after_minutes
        if free_from > window_minutes:
            return fitted
        fitted += 1


def session_lengths(hours: Iterable[tuple[int, dt.time, dt.time]]) -> list[int]:
    """Pure: the minutes of each working session, from (weekday, start, end) windows; the
    windows of one weekday that touch or overlap are one session, as the engine merges them.
    Wall-clock minutes: a DST day's session is counted at its usual length."""
    by_day: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for weekday, opens, closes in hours:
        by_day[weekday].append((opens.hour * 60 + opens.minute, closes.hour * 60 + closes.minute))
    lengths: list[int] = []
    for spans in by_day.values():
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        lengths.extend(end - start for start, end in merged if end > start)
    return lengths


# --- Reading the clinic -----------------------------------------------------------------


def outcome_counts(
    clinic: Clinic, *, since: dt.datetime, until: dt.datetime
) -> dict[tuple[int, int], tuple[int, int]]:
    """Per (provider id, type id): how many appointments with a known outcome ended in
    ``[since, until)``, and how many of them were no-shows. One query."""
    rows = (
        Appointment.objects.filter(clinic=clinic, status__in=OUTCOME_KNOWN, end__gte=since, end__lt=until)
        .order_by()
        .values("provider_id", "appointment_type_id")
        .annotate(total=Count("pk"), no_shows=Count("pk", filter=Q(status=AppointmentStatus.NO_SHOW)))
    )
    return {(row["provider_id"], row["appointment_type_id"]): (row["total"], row["no_shows"]) for row in rows}


def recommend(
    clinic: Clinic,
    *,
    now: dt.datetime | None = None,
    days: int = DEFAULT_DAYS,
    min_appointments: int = MIN_APPOINTMENTS,
) -> list[Recommendation]:
    """From the last `days` days of stored outcomes, per provider × appointment type, sorted
    by provider then type.

    Every pair the provider may perform is listed; a pair without enough history or without
    a working window that fits the type gets ``max_extra`` 0 and a ``note``. Reads only:
    six queries whatever the clinic's size.
    """
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed({"days": f"Choose between 1 and {MAX_DAYS} days."})
    now = now or timezone.now()
    counts = outcome_counts(clinic, since=now - dt.timedelta(days=days), until=now)
    providers = list(Provider.objects.filter(clinic=clinic).order_by("code"))
    hours: dict[int, list[tuple[int, dt.time, dt.time]]] = defaultdict(list)
    for provider_id, weekday, start, end in WorkingHours.objects.filter(provider__clinic=clinic).values_list(
        "provider_id", "weekday", "start", "end"
    ):
        hours[provider_id].append((weekday, start, end))
    types = list(AppointmentType.objects.filter(clinic=clinic).prefetch_related("providers").order_by("code"))
    rules = tuple(
        RuleSpec(max_extra=max_extra, provider=provider_code, appointment_type=type_code)
        for max_extra, provider_code, type_code in OverbookingRule.objects.filter(clinic=clinic).values_list(
            "max_extra", "provider__code", "appointment_type__code"
        )
    )
    risk_limit = clinic.overbooking_risk
    found = []
    for provider in providers:
        lengths = session_lengths(hours[provider.pk])
        for kind in types:
            allowed = {p.pk for p in kind.providers.all()}
            if allowed and provider.pk not in allowed:
                continue
            appointments, no_shows = counts.get((provider.pk, kind.pk), (0, 0))
            sizes = [
                seats
                for seats in (
                    seats_in_window(
                        minutes,
                        slot_minutes=clinic.slot_minutes,
                        duration_minutes=kind.duration_minutes,
                        buffer_before_minutes=kind.buffer_before_minutes,
                        buffer_after_minutes=kind.buffer_after_minutes,
                    )
                    for minutes in lengths
                )
                if seats > 0
            ]
            found.append(
                _recommendation(
                    provider.code,
                    kind,
                    appointments,
                    no_shows,
                    sizes,
                    risk_limit=risk_limit,
                    current=max_extra_seats(rules, provider.code, kind.code),
                    days=days,
                    min_appointments=min_appointments,
                )
            )
    return found


def _recommendation(
    provider: str,
    kind: AppointmentType,
    appointments: int,
    no_shows: int,
    sizes: Sequence[int],
    *,
    risk_limit: float,
    current: int,
    days: int,
    min_appointments: int,
) -> Recommendation:
    rate = no_shows / appointments if appointments else 0.0
    common: dict[str, Any] = {
        "provider": provider,
        "appointment_type": kind.code,
        "appointments": appointments,
        "no_shows": no_shows,
        "no_show_rate": round(rate, 4),
        "current_max_extra": current,
        "duration_minutes": kind.duration_minutes,
    }
    note = ""
    if appointments < min_appointments:
        note = (
            f"Only {appointments} appointment(s) with a known outcome ended in the last {days} days;"
            f" at least {min_appointments} are needed."
        )
    elif not sizes:
        note = f"{provider} has no working window long enough for a {kind.code} appointment."
    if note:
        return Recommendation(
            **common,
            session_seats=min(sizes, default=0),
            max_extra=0,
            risk=0.0,
            expected_minutes_won=0.0,
            note=note,
        )
    advice = advise(rate, sizes, risk_limit)
    minutes = kind.duration_minutes
    return Recommendation(
        **common,
        session_seats=advice.session_seats,
        max_extra=advice.max_extra,
        risk=round(advice.risk, 6),
        expected_minutes_won=round(advice.extra_seen * minutes, 2),
        extra_per_session=advice.extra_per_session,
        session_risk=round(advice.session_risk, 6),
        session_minutes_won=round(advice.session_extra_seen * minutes, 2),
    )


# --- Applying ---------------------------------------------------------------------------


@service_transaction
def apply_recommendations(clinic: Clinic, recommendations: Iterable[Recommendation], *, actor: Any) -> int:
    """Creates/updates the provider × type OverbookingRule rows (never automatically, only
    when called by an admin action or an explicit caller); returns how many changed.

    Recommendations without enough data (``note`` set) are skipped: no history is no
    reason to change a rule. Each created or changed rule is written to the admin's history
    (``LogEntry``, as an admin's own edit is) when ``actor`` is a user. (The database's
    triggers move the clinic's ``setup_version`` on, as for every change to its setup.)
    """
    wanted = {(r.provider, r.appointment_type): r for r in recommendations if r.recommended}
    if not wanted:
        return 0
    if bad := sorted(key for key, r in wanted.items() if not 0 <= r.max_extra <= MAX_RULE_SEATS):
        raise ValidationFailed({"max_extra": f"{'/'.join(bad[0])}: choose from 0 to {MAX_RULE_SEATS} seats."})
    providers, types = _resolve(clinic, wanted)
    existing = {
        (rule.provider_id, rule.appointment_type_id): rule
        for rule in OverbookingRule.objects.select_for_update().filter(
            clinic=clinic, provider__in=providers.values(), appointment_type__in=types.values()
        )
    }
    user_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    changed = 0
    for (provider_code, type_code), rec in sorted(wanted.items()):
        provider, kind = providers[provider_code], types[type_code]
        rule = existing.get((provider.pk, kind.pk))
        before = None if rule is None else rule.max_extra
        if before == rec.max_extra:
            continue
        if rule is None:
            rule = OverbookingRule(clinic=clinic, provider=provider, appointment_type=kind)
        rule.max_extra = rec.max_extra
        rule.save()
        changed += 1
        if user_id is not None:
            flag = ADDITION if before is None else CHANGE
            LogEntry.objects.log_actions(
                user_id, [rule], flag, _history_message(rec, before), single_object=True
            )
    return changed


def _resolve(
    clinic: Clinic, wanted: Iterable[tuple[str, str]]
) -> tuple[dict[str, Provider], dict[str, AppointmentType]]:
    """The clinic's providers and types the recommendations name, by code; ``not_found``
    for a code the clinic does not have."""
    provider_codes = {provider for provider, _ in wanted}
    type_codes = {kind for _, kind in wanted}
    providers = {p.code: p for p in Provider.objects.filter(clinic=clinic, code__in=provider_codes)}
    types = {t.code: t for t in AppointmentType.objects.filter(clinic=clinic, code__in=type_codes)}
    if missing := sorted(provider_codes - providers.keys()):
        raise NotFound(f"No provider with code {missing[0]!r}.", field="provider")
    if missing := sorted(type_codes - types.keys()):
        raise NotFound(f"No appointment type with code {missing[0]!r}.", field="appointment_type")
    return providers, types


def _history_message(rec: Recommendation, before: int | None) -> str:
    change = f"{rec.max_extra}" if before is None else f"{before} → {rec.max_extra}"
    return (
        f"Applied the overbooking recommendation: max_extra {change} (no-show rate"
        f" {rec.no_show_rate:.1%} over {rec.appointments} appointments; risk {rec.risk:.1%}"
        f" in a session of {rec.session_seats} seats)."
    )

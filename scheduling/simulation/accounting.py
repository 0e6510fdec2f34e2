"""A policy's month in figures, read back from the database and checked against the ledger.

Definitions (minutes are provider minutes over the period's days only; the margins around
it are simulated but not counted; requests count when their wished day is in the period):

- **bookable**: each provider's working windows on the period's working days, minus time
  off (closures have none): the stats' ``available_minutes``.
- **booked**: the provider time held by the appointments that were not cancelled (visited
  or no-show), as the union per provider of their *blocked* ranges (buffers included: the
  provider's preparation and cleaning are time the booking uses, and nobody else can book
  it), inside the bookable time. Two patients on one provider's time (overbooking) count
  once, so utilization stays within 0..1. ``booked_utilization`` = booked / bookable;
  ``booked_utilization_without_buffers`` the same over ``[start, end)`` only.
- **attended**: the same union over the visits patients came to.
  ``idle_minutes`` = held time nobody came for (booked minus attended, computed apart).
- **overtime_minutes**: per provider, the blocked minutes of the attended visits minus
  their union: the minutes in which two patients were seen at once because both
  overbooked patients came (what it costs the provider over the booked time).
- **cancelled minutes**: the blocked minutes of cancelled appointments; of each, the part
  later held again on the same provider and seat is **refilled** (a seat holds one booking
  at a time, so whatever holds it now was booked after the cancellation), the rest is
  **unfilled** (it stayed idle). ``refilled_share`` = refilled / cancelled.
- **requested minutes**: each request's type's blocked minutes; each is *booked* (when
  the patient called), *waitlisted* or *refused*; some waitlisted ones are booked later by
  a backfill offer (``waitlist_booked_minutes``).
- **dead_gap_minutes**: bookable time left free in pieces shorter than the shortest
  appointment type (buffers included), which no demand could fill.
- **served**: visits patients came to. **median_wait_days**: over the requests that ended
  with a held appointment, the median of its local date minus the day of the call.
  **preferences_met**: over those, met stated preferences / stated preferences.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from clinic.models import Clinic
from scheduling.models import Appointment, AppointmentStatus
from scheduling.simulation.demand import Demand
from scheduling.simulation.intervals import Span, intersect, minutes, subtract, union
from scheduling.simulation.runner import Ledger

S = AppointmentStatus


@dataclass(frozen=True)
class Row:
    pk: int
    provider: str
    start: dt.datetime
    end: dt.datetime
    blocked_start: dt.datetime
    blocked_end: dt.datetime
    seat: int
    status: str

    @property
    def blocked(self) -> Span:
        return (self.blocked_start, self.blocked_end)

    @property
    def held(self) -> bool:
        return self.status != S.CANCELLED


@dataclass
class Result:
    metrics: dict[str, Any]
    mismatches: list[str] = field(default_factory=list)  # ledger and database disagree


def fraction(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def read_rows(demand: Demand, clinic: Clinic) -> list[Row]:
    """The clinic's appointments on the simulated days, margins included (the loaded
    history lies before)."""
    period_start = demand.calendar.instant(demand.simulated[0], dt.time(0))
    fields = ("pk", "provider__code", "start", "end", "blocked_start", "blocked_end", "seat", "status")
    return [
        Row(*values)
        for values in Appointment.objects.filter(clinic=clinic, start__gte=period_start)
        .order_by("pk")
        .values_list(*fields)
    ]


def account(demand: Demand, all_rows: list[Row], ledger: Ledger) -> Result:
    """The period's figures (the margins are simulated, not measured), and where the
    ledger and the database disagree (over everything simulated)."""
    period_start = demand.calendar.instant(demand.days[0], dt.time(0))
    period_end = demand.calendar.instant(demand.days[-1] + dt.timedelta(days=1), dt.time(0))
    rows = [row for row in all_rows if period_start <= row.start < period_end]
    providers = sorted({p.code for p in demand.calendar.file.providers})
    bookable = {
        p: union(span for day in demand.days for span in demand.calendar.bookable(p, day)) for p in providers
    }
    by_provider: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_provider[row.provider].append(row)

    held = {p: intersect(union(r.blocked for r in by_provider[p] if r.held), bookable[p]) for p in providers}
    visits = {p: union((r.start, r.end) for r in by_provider[p] if r.held) for p in providers}
    came = {
        p: intersect(union(r.blocked for r in by_provider[p] if r.status == S.COMPLETED), bookable[p])
        for p in providers
    }
    overtime = sum(
        sum(minutes([r.blocked]) for r in by_provider[p] if r.status == S.COMPLETED)
        - minutes(union(r.blocked for r in by_provider[p] if r.status == S.COMPLETED))
        for p in providers
    )
    # Free time in pieces shorter than the shortest appointment (buffers included): nobody
    # can book it, whatever the demand.
    shortest = min(
        (
            t.buffer_before_minutes + t.duration_minutes + t.buffer_after_minutes
            for t in demand.calendar.file.appointment_types
        ),
        default=0,
    )
    dead_gaps = sum(
        minutes([span])
        for p in providers
        for span in subtract(bookable[p], held[p])
        if minutes([span]) < shortest
    )
    bookable_minutes = sum(minutes(bookable[p]) for p in providers)
    booked = sum(minutes(held[p]) for p in providers)
    attended = sum(minutes(came[p]) for p in providers)
    idle = sum(minutes(subtract(held[p], came[p])) for p in providers)

    seat_held: dict[tuple[str, int], list[Span]] = {}
    cancelled = refilled = unfilled = 0.0
    for row in rows:
        if row.held:
            continue
        key = (row.provider, row.seat)
        if key not in seat_held:
            seat_held[key] = union(
                r.blocked for r in by_provider[row.provider] if r.held and r.seat == row.seat
            )
        cancelled += minutes([row.blocked])
        refilled += minutes(intersect([row.blocked], seat_held[key]))
        unfilled += minutes(subtract([row.blocked], seat_held[key]))

    requests = [r for r in demand.requests if demand.in_period(r)]
    outcome_minutes = {
        kind: sum(r.minutes for r in requests if ledger.at_request.get(r.index) == kind)
        for kind in ("booked", "waitlisted", "refused")
    }
    status = {row.pk: row.status for row in all_rows}
    start = {row.pk: row.start for row in all_rows}
    waits: list[int] = []
    stated = met = 0
    for r in requests:
        pk = ledger.final.get(r.index)
        if pk is None or status.get(pk, S.CANCELLED) == S.CANCELLED:
            continue
        booking = ledger.bookings[pk]
        waits.append((start[pk].astimezone(demand.tz).date() - r.day).days)
        stated += r.preferences.stated
        met += r.preferences.met(booking.provider, booking.start, booking.end, demand.tz)
    waitlist_booked = sum(
        demand.requests[b.request].minutes
        for b in ledger.bookings.values()
        if b.backfill
        and ledger.at_request.get(b.request) == "waitlisted"
        and demand.in_period(demand.requests[b.request])
    )
    cancelled_pks = [row.pk for row in rows if not row.held]

    metrics: dict[str, Any] = {
        "booked_utilization": fraction(booked, bookable_minutes),
        "attended_utilization": fraction(attended, bookable_minutes),
        "refilled_share": fraction(refilled, cancelled),
        "idle_minutes": round(idle),
        "overtime_minutes": round(overtime),
        "served": sum(1 for row in rows if row.status == S.COMPLETED),
        "median_wait_days": float(statistics.median(waits)) if waits else 0.0,
        "preferences_met": fraction(met, stated),
        "booked_utilization_without_buffers": fraction(
            sum(minutes(intersect(visits[p], bookable[p])) for p in providers), bookable_minutes
        ),
        "bookable_minutes": round(bookable_minutes),
        "dead_gap_minutes": round(dead_gaps),
        "booked_minutes": round(booked),
        "attended_minutes": round(attended),
        "requests": len(requests),
        "requested_minutes": sum(r.minutes for r in requests),
        "booked_on_request_minutes": outcome_minutes["booked"],
        "waitlisted_minutes": outcome_minutes["waitlisted"],
        "refused_minutes": outcome_minutes["refused"],
        "waitlist_booked_minutes": waitlist_booked,
        "cancellations": sum(1 for row in rows if row.status == S.CANCELLED),
        "cancelled_minutes": round(cancelled),
        "refilled_minutes": round(refilled),
        "unfilled_minutes": round(unfilled),
        "no_shows": sum(1 for row in rows if row.status == S.NO_SHOW),
        "overbooked_appointments": sum(1 for row in rows if row.seat > 0 and row.held),
        "backfill_offers": sum(ledger.offers.get(pk, 0) for pk in cancelled_pks),
        "backfill_accepted": sum(1 for pk in cancelled_pks if pk in ledger.refilled_by_offer),
        "service_refusals": ledger.service_refusals,  # offered, then refused by the booking service
        "weekly": _weekly(demand, providers, held, came),
    }
    if ledger.recommendations:
        metrics["overbooking_recommendations"] = ledger.recommendations
    return Result(metrics=metrics, mismatches=_mismatches(ledger, all_rows, demand))


def _weekly(
    demand: Demand, providers: list[str], held: dict[str, list[Span]], came: dict[str, list[Span]]
) -> list[dict[str, Any]]:
    """Utilization per ISO week of the period."""
    weeks: dict[tuple[int, int], list[dt.date]] = defaultdict(list)
    for day in demand.days:
        iso = day.isocalendar()
        weeks[iso.year, iso.week].append(day)
    out = []
    for (year, week), days in sorted(weeks.items()):
        total = booked = attended = 0.0
        for p in providers:
            week_bookable = union(span for day in days for span in demand.calendar.bookable(p, day))
            total += minutes(week_bookable)
            booked += minutes(intersect(held[p], week_bookable))
            attended += minutes(intersect(came[p], week_bookable))
        out.append(
            {
                "week": f"{year}-W{week:02d}",
                "first_day": days[0].isoformat(),
                "days": len(days),
                "booked_utilization": fraction(booked, total),
                "attended_utilization": fraction(attended, total),
            }
        )
    return out


def _mismatches(ledger: Ledger, rows: list[Row], demand: Demand) -> list[str]:
    """Where what the simulator believes it did differs from what the database holds."""
    problems = []
    stored = {row.pk: row for row in rows}
    if set(stored) != set(ledger.bookings):
        problems.append(
            f"{len(set(stored) - set(ledger.bookings))} stored appointment(s) the ledger does not know, "
            f"{len(set(ledger.bookings) - set(stored))} booked one(s) not stored"
        )
    expected = {pk: S.CANCELLED for pk in ledger.cancelled}
    expected |= {pk: S.NO_SHOW for pk in ledger.no_shows}
    expected |= {pk: S.COMPLETED for pk in ledger.attended}
    for pk, row in stored.items():
        want = expected.get(pk, S.BOOKED)
        if row.status != want:
            problems.append(f"appointment {pk}: stored {row.status}, the simulator expects {want}")
    # The minutes booked on request, from the stored rows against the requests' types.
    booked_on_request = sum(
        minutes([stored[pk].blocked]) for pk, b in ledger.bookings.items() if not b.backfill and pk in stored
    )
    wanted = sum(r.minutes for r in demand.requests if ledger.at_request.get(r.index) == "booked")
    if round(booked_on_request) != wanted:
        problems.append(f"booked on request: {booked_on_request} stored minutes against {wanted} requested")
    return problems

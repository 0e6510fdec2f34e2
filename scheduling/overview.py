"""Reads for the staff UI's overview pages: the waitlist with the offers made, one patient's
record, and the statistics of a day or a week.

Each selector reads in a fixed number of queries whatever the clinic's size (the week's
statistics: those of ``jobs.stats_for_day`` for each day, plus two) and returns plain
dataclasses, so a template never sets off a query of its own.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from clinic import access
from clinic.access import Scope
from clinic.errors import NotFound
from clinic.models import WEEKDAY_KEYS, Clinic, Patient, Provider, Room
from notifications.models import EventType, OutboxEvent, OutboxStatus
from scheduling import access as scheduling_access
from scheduling import jobs
from scheduling.engine.calendar import days
from scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentHistory,
    AppointmentStatus,
    NoShowRate,
    WaitlistEntry,
)

DAY_NAMES = dict(
    zip(
        WEEKDAY_KEYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
# What a patient page lists at most of the past, and of the history: enough for a desk,
# bounded for a patient who has come every week for years.
PAST_LIMIT = 50
HISTORY_LIMIT = 100


# --- The waitlist -------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """A ``waitlist.slot_available`` event: a freed time offered to a waiting patient."""

    offered_at: dt.datetime
    start: dt.datetime | None
    provider: str
    room: str
    delivery: str  # the outbox status: sent, pending, failed, skipped

    @property
    def delivery_label(self) -> str:
        labels: dict[str, str] = {
            OutboxStatus.SENT: "sent",
            OutboxStatus.PENDING: "sending",
            OutboxStatus.FAILED: "not delivered",
            OutboxStatus.SKIPPED: "not sent (no hub)",
        }
        return labels.get(self.delivery, self.delivery)


@dataclass(frozen=True)
class WaitingEntry:
    entry: WaitlistEntry  # with its patient, type and provider loaded
    offers: list[Offer] = field(default_factory=list)


def open_waitlist(clinic: Clinic, *, patient: Patient | None = None) -> list[WaitingEntry]:
    """The open entries, the earliest wanted date first, then the longest waiting; each
    with the offers its patient got for its type since it was added. Two queries."""
    entries = WaitlistEntry.objects.open().filter(clinic=clinic)
    if patient is not None:
        entries = entries.filter(patient=patient)
    rows = list(
        entries.select_related("patient", "appointment_type", "provider").order_by(
            "earliest", "created_at", "pk"
        )
    )
    if not rows:
        return []
    # The recipient is named only in the payload (the event's appointment is the cancelled
    # one whose time is offered), so offers are matched by patient code and the freed
    # appointment's type, after the entry was made.
    since = min(r.created_at for r in rows)
    events = (
        OutboxEvent.objects.filter(
            event_type=EventType.WAITLIST_SLOT_AVAILABLE,
            appointment__clinic=clinic,
            payload__patient__code__in=sorted({r.patient.code for r in rows}),
            created_at__gte=since,
        )
        .order_by("created_at", "pk")
        .values("created_at", "status", "payload", "appointment__appointment_type_id")
    )
    offers: dict[tuple[str, int], list[tuple[dt.datetime, Offer]]] = defaultdict(list)
    for event in events:
        payload: dict[str, Any] = event["payload"]
        key = (payload.get("patient", {}).get("code", ""), event["appointment__appointment_type_id"])
        offers[key].append((event["created_at"], _offer(event["created_at"], event["status"], payload)))
    return [
        WaitingEntry(
            entry=r,
            offers=[
                offer
                for created, offer in offers[(r.patient.code, r.appointment_type_id)]
                if created >= r.created_at
            ],
        )
        for r in rows
    ]


def _offer(created_at: dt.datetime, status: str, payload: dict[str, Any]) -> Offer:
    slot = payload.get("slot") or {}
    try:
        start = dt.datetime.fromisoformat(slot.get("start", ""))
    except ValueError:
        start = None
    return Offer(
        offered_at=created_at,
        start=start,
        provider=(payload.get("provider") or {}).get("name", ""),
        room=(payload.get("room") or {}).get("name", ""),
        delivery=status,
    )


# --- A patient's record -----------------------------------------------------------------


# What each history action reads as on the page.
ACTIONS = {
    "booked": "Booked",
    "confirm": "Confirmed",
    "check_in": "Checked in",
    "complete": "Completed",
    "no_show": "Marked as no-show",
    "cancel": "Cancelled",
    "note": "Changed the note",
    "loaded": "Loaded from the clinic file",
}


@dataclass(frozen=True)
class HistoryLine:
    at: dt.datetime
    actor: str  # "" for the system (the no-show job, the API without a user)
    action: str
    appointment: Appointment
    detail: str


@dataclass(frozen=True)
class PatientRecord:
    patient: Patient
    preferred_providers: list[str]
    preferred_days: list[str]
    preferred_times: list[str]
    upcoming: list[Appointment]  # still to come, soonest first
    past: list[Appointment]  # over, cancelled or missed, latest first (at most PAST_LIMIT)
    past_total: int
    history: list[HistoryLine]  # latest first (at most HISTORY_LIMIT)
    history_total: int
    waiting: list[WaitingEntry]


def patient_record(caller: Scope, code: str, *, now: dt.datetime) -> PatientRecord:
    """Everything the desk needs about one patient, in at most seven queries whatever
    their record's length; ``NotFound`` for a code this clinic does not know. A clinician
    sees the appointments (and their history) with their own provider only."""
    patient = access.patients(caller).filter(code=code).first()
    if patient is None:
        raise NotFound(f"No patient with code {code!r}.")
    providers = list(patient.preferred_providers.order_by("name").values_list("name", flat=True))
    visible = scheduling_access.appointments(caller).filter(patient=patient)
    appointments = list(
        visible.select_related("appointment_type", "provider", "room").order_by("start", "pk")
    )
    upcoming = [a for a in appointments if a.status in ACTIVE_STATUSES and a.end > now]
    shown = {a.pk for a in upcoming}
    past = [a for a in reversed(appointments) if a.pk not in shown]
    history = AppointmentHistory.objects.filter(appointment__in=visible).order_by("-at", "-pk")
    history_rows = list(history.select_related("actor", "appointment__appointment_type")[:HISTORY_LIMIT])
    history_total = len(history_rows)
    if history_total == HISTORY_LIMIT:
        history_total = history.count()
    return PatientRecord(
        patient=patient,
        preferred_providers=providers,
        preferred_days=[DAY_NAMES.get(d, d) for d in patient.preferred_days],
        preferred_times=[_time_range(r) for r in patient.preferred_times or []],
        upcoming=upcoming,
        past=past[:PAST_LIMIT],
        past_total=len(past),
        history=[history_line(h) for h in history_rows],
        history_total=history_total,
        waiting=open_waitlist(caller.clinic, patient=patient),
    )


def appointment_history(appointment: Appointment) -> list[HistoryLine]:
    """Every change to one appointment, oldest first, in words."""
    rows = appointment.history.select_related("actor", "appointment").order_by("at", "pk")
    return [history_line(h) for h in rows]


def history_line(row: AppointmentHistory) -> HistoryLine:
    changes = row.changes or {}
    detail = ""
    status = changes.get("status")
    if changes.get("cancel_reason"):
        detail = f"reason: {changes['cancel_reason']}"
    elif changes.get("backfill_of"):
        detail = "into a cancelled appointment's time"
    elif row.action == "booked" and row.appointment.rescheduled_from_id:
        detail = "rescheduled from another time"
    elif isinstance(status, list) and len(status) == 2:
        detail = " → ".join(
            AppointmentStatus(s).label.lower() for s in status if s in AppointmentStatus.values
        )
    actor = ""
    if row.actor is not None:
        actor = row.actor.get_full_name() or row.actor.get_username()
    return HistoryLine(
        at=row.at,
        actor=actor,
        action=ACTIONS.get(row.action, row.action.replace("_", " ").capitalize()),
        appointment=row.appointment,
        detail=detail,
    )


def _time_range(value: Any) -> str:
    if isinstance(value, list | tuple) and len(value) == 2:
        return f"{value[0]}–{value[1]}"
    return str(value)


# --- Statistics of a day or a week --------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """A provider's or a room's (or the clinic's) figures over the period."""

    code: str
    name: str
    available_minutes: int = 0
    booked_minutes: int = 0
    appointments: int = 0
    cancellations: int = 0
    no_shows: int = 0
    backfilled: int = 0

    @property
    def utilization(self) -> float:
        return jobs.utilization(self.booked_minutes, self.available_minutes)


@dataclass(frozen=True)
class Rate:
    """The latest stored no-show rate of a provider or an appointment type."""

    code: str
    name: str
    appointments: int
    no_shows: int
    rate: float
    date: dt.date
    window_days: int


@dataclass(frozen=True)
class PeriodStats:
    first: dt.date
    last: dt.date
    daily: list[dict[str, Any]]  # ``jobs.stats_for_day`` of each day, in order
    providers: list[Usage]
    rooms: list[Usage]
    totals: Usage
    no_show_by_provider: list[Rate]
    no_show_by_type: list[Rate]


USAGE_FIELDS = (
    "available_minutes",
    "booked_minutes",
    "appointments",
    "cancellations",
    "no_shows",
    "backfilled",
)


def period_stats(clinic: Clinic, first: dt.date, last: dt.date) -> PeriodStats:
    """The figures of ``jobs.stats_for_day`` for each day from ``first`` to ``last``,
    added up per provider and per room (utilization recomputed from the sums, as the day's
    totals are), and the latest no-show rates stored on or before ``last``."""
    daily = [jobs.stats_for_day(clinic, day) for day in days(first, last)]
    provider_names = dict(Provider.objects.filter(clinic=clinic).values_list("code", "name"))
    room_names = dict(Room.objects.filter(clinic=clinic).values_list("code", "name"))
    providers = _add_up((row for d in daily for row in d["providers"]), "provider", provider_names)
    rooms = _add_up((row for d in daily for row in d["rooms"]), "room", room_names)
    totals = Usage(
        code="",
        name="All providers",
        **{name: sum(d["totals"][name] for d in daily) for name in USAGE_FIELDS},
    )
    return PeriodStats(
        first=first,
        last=last,
        daily=daily,
        providers=providers,
        rooms=rooms,
        totals=totals,
        **_no_show_rates(clinic, last),
    )


def _add_up(rows: Iterable[dict[str, Any]], key: str, names: dict[str, str]) -> list[Usage]:
    sums: dict[str, dict[str, int]] = {}
    for row in rows:
        tally = sums.setdefault(row[key], dict.fromkeys(USAGE_FIELDS, 0))
        for name in USAGE_FIELDS:
            tally[name] += row.get(name, 0)
    usages = [Usage(code=code, name=names.get(code, code), **tally) for code, tally in sums.items()]
    return sorted(usages, key=lambda u: (u.name.lower(), u.code))


def _no_show_rates(clinic: Clinic, last: dt.date) -> dict[str, list[Rate]]:
    """Per provider and per type, the newest row on or before ``last`` (a scope with no
    known outcome in its window has no row: its rate is unknown, not zero)."""
    stored = NoShowRate.objects.filter(clinic=clinic, date__lte=last)
    by_provider = (
        stored.filter(provider__isnull=False)
        .select_related("provider")
        .order_by("provider_id", "-date")
        .distinct("provider_id")
    )
    by_type = (
        stored.filter(appointment_type__isnull=False)
        .select_related("appointment_type")
        .order_by("appointment_type_id", "-date")
        .distinct("appointment_type_id")
    )
    return {
        "no_show_by_provider": sorted(
            (_rate(r.provider.code, r.provider.name, r) for r in by_provider if r.provider),
            key=lambda r: r.name.lower(),
        ),
        "no_show_by_type": sorted(
            (
                _rate(r.appointment_type.code, r.appointment_type.name, r)
                for r in by_type
                if r.appointment_type
            ),
            key=lambda r: r.name.lower(),
        ),
    }


def _rate(code: str, name: str, row: NoShowRate) -> Rate:
    return Rate(
        code=code,
        name=name,
        appointments=row.appointments,
        no_shows=row.no_shows,
        rate=row.rate,
        date=row.date,
        window_days=row.window_days,
    )

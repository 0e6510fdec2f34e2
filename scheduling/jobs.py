"""Scheduled jobs: marking no-shows, the daily statistics snapshots, and purging the API's
idempotency records.

Each runs hourly under django-q2 (scheduled on ``migrate``; ``setup_schedules`` repairs),
through the ``*_job`` wrappers; no-shows and stats also on demand, through the management
commands of the same names. Each takes ``now`` from its caller, so tests can put it
anywhere, including a DST changeover.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, Count, Exists, IntegerField, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from clinic.errors import InvalidTransition
from clinic.models import Clinic, Closure, Provider, Room, TimeOff, WorkingHours
from scheduling import services
from scheduling.engine.calendar import instant, local_iso
from scheduling.engine.intervals import subtract
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    IdempotencyRecord,
    NoShowRate,
    ProviderDayStats,
    RoomDayStats,
    StatsDirtyDay,
)

logger = logging.getLogger(__name__)

# Booked or confirmed and never checked in: after the grace period, a no-show.
NO_SHOW_FROM = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
# The appointments whose outcome is known: the denominator of a no-show rate.
OUTCOME_KNOWN = (
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.COMPLETED,
    AppointmentStatus.NO_SHOW,
)
NO_SHOW_RATE_WINDOW_DAYS = 90


# --- No-shows ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NoShowRun:
    marked: list[int]
    # Overdue, but ended before the clinic's look-back: history loaded from a clinic file,
    # or visits of long ago after the job was down. Left as they are, no event sent.
    skipped: int


def mark_no_shows(now: dt.datetime) -> list[int]:
    """Mark every booked or confirmed appointment that ended more than its clinic's grace
    period before ``now``, and within its clinic's look-back, as a no-show; returns their
    ids. Running it twice changes nothing the second time."""
    return mark_no_shows_counted(now).marked


def mark_no_shows_counted(now: dt.datetime) -> NoShowRun:
    """``mark_no_shows``, also counting the overdue appointments left alone because they
    ended before the look-back (``Clinic.no_show_lookback_days``).

    Times are compared as instants, so a DST change in between cannot shorten or stretch
    the grace period.
    """
    # Arithmetic on a UTC instant: a timedelta added to a zoned datetime moves its wall
    # clock, which across a DST change is not the same thing.
    now = now.astimezone(dt.UTC)
    marked: list[int] = []
    skipped = 0
    for clinic in Clinic.objects.only("pk", "no_show_grace_minutes", "no_show_lookback_days"):
        cutoff = now - dt.timedelta(minutes=clinic.no_show_grace_minutes)
        earliest_end = now - dt.timedelta(days=clinic.no_show_lookback_days)
        candidates = Appointment.objects.filter(clinic=clinic, status__in=NO_SHOW_FROM, end__lt=cutoff)
        overdue = candidates.filter(end__gte=earliest_end).order_by("end", "pk").values_list("pk", flat=True)
        for pk in list(overdue):
            try:
                if _mark_no_show(pk, now=now):
                    marked.append(pk)
            except Exception:
                # One bad row must not keep every later appointment from being marked,
                # hour after hour; it is logged and retried on the next run.
                logger.exception("Could not mark appointment %s as a no-show", pk)
        too_old = candidates.filter(end__lt=earliest_end).count()
        if too_old:
            logger.info(
                "Clinic %s: left %d booked appointment(s) that ended more than %d day(s) ago unmarked",
                clinic.pk,
                too_old,
                clinic.no_show_lookback_days,
            )
        skipped += too_old
    return NoShowRun(marked=marked, skipped=skipped)


def _mark_no_show(pk: int, *, now: dt.datetime) -> bool:
    """The same service the API's no-show action uses: its own transaction, the row locked
    and its status re-checked, history and event written with it."""
    try:
        services.appointment_change_status(appointment_id=pk, action="no_show", now=now)
    except InvalidTransition:
        return False  # checked in, or otherwise moved on, since the list was read
    return True


def mark_no_shows_job() -> str:
    run = mark_no_shows_counted(timezone.now())
    return (
        f"marked {len(run.marked)} appointment(s) as no-show; "
        f"skipped {run.skipped} that ended before the clinic's look-back"
    )


# --- Daily statistics -------------------------------------------------------------------
#
# Definitions, per provider and local date:
# - available_minutes: the provider's working windows that day as real instants (so on a
#   DST day a 08:00-17:00 window lasts what it really lasts), minus time off; 0 on a
#   closure date.
# - booked_minutes: the part within that day of every appointment that is not cancelled.
#   A no-show held the time, so it counts. Overbooking seats count each, so utilization
#   can exceed 1.
# - utilization: booked / available, 4 decimals, 0 when nothing was available.
# - appointments: appointments starting that day that are not cancelled.
# - cancellations / no_shows: cancelled / no-show appointments starting that day (a
#   reschedule cancels the old appointment, so it counts as a cancellation).
# - backfilled: of those cancellations, the ones whose freed time was booked again
#   (some appointment has ``backfill_of`` pointing at it).
# Per room: available = while the clinic is open, i.e. the union of all providers' working
# windows that day (time off ignored: the room stays usable); booked as for providers.
# Totals: the sums over providers, utilization recomputed from the sums.

Span = tuple[dt.datetime, dt.datetime]


@dataclasses.dataclass(frozen=True)
class DayStats:
    clinic: Clinic
    date: dt.date
    providers: list[ProviderDayStats]
    rooms: list[RoomDayStats]


def compute_stats(
    day: dt.date | None = None, *, now: dt.datetime, clinic: Clinic | None = None
) -> list[DayStats]:
    """Store the snapshots of ``day`` (default: yesterday, today and every day a booking
    change has marked since, each in the clinic's own zone) for one clinic or all, and the
    no-show rates up to ``day`` (default: today)."""
    clinics = [clinic] if clinic is not None else list(Clinic.objects.all())
    computed: list[DayStats] = []
    for each in clinics:
        today = now.astimezone(each.tz).date()
        marks = _dirty_marks(each, day)
        days = [day] if day is not None else sorted({today - dt.timedelta(days=1), today, *marks})
        for one_day in days:
            computed.append(_recompute(each, one_day, marks.get(one_day, []), now))
        compute_no_show_rates(each, day or today, computed_at=now)
    return computed


def _dirty_marks(clinic: Clinic, day: dt.date | None = None) -> dict[dt.date, list[int]]:
    """The clinic's stats marks (of one day, or all), by day. Read before computing."""
    marks = StatsDirtyDay.objects.filter(clinic=clinic)
    if day is not None:
        marks = marks.filter(date=day)
    by_day: dict[dt.date, list[int]] = defaultdict(list)
    for pk, marked_day in marks.values_list("pk", "date"):
        by_day[marked_day].append(pk)
    return by_day


def _recompute(clinic: Clinic, day: dt.date, marks: list[int], now: dt.datetime) -> DayStats:
    """Compute and store ``day``, then drop the marks read before computing: a change that
    commits meanwhile has a mark of its own, left for the next time."""
    stats = compute_clinic_day(clinic, day, computed_at=now)
    if marks:
        StatsDirtyDay.objects.filter(pk__in=marks).delete()
    return stats


def compute_stats_job() -> str:
    computed = compute_stats(now=timezone.now())
    return "; ".join(f"{d.clinic.code} {d.date}" for d in computed) or "no clinics"


def compute_clinic_day(clinic: Clinic, day: dt.date, *, computed_at: dt.datetime) -> DayStats:
    """Compute ``day`` and store it (the job's part)."""
    stats = clinic_day(clinic, day, computed_at=computed_at)
    with transaction.atomic():  # a reader sees the whole day's snapshot or none of it
        _upsert(ProviderDayStats, stats.providers, ["clinic", "provider", "date"])
        _upsert(RoomDayStats, stats.rooms, ["clinic", "room", "date"])
    return stats


def clinic_day(clinic: Clinic, day: dt.date, *, computed_at: dt.datetime) -> DayStats:
    """Compute ``day`` from the bookings, as unsaved rows: reading, never writing."""
    tz = clinic.tz
    day_span = (instant(day, dt.time(0), tz), instant(day + dt.timedelta(days=1), dt.time(0), tz))
    providers = list(Provider.objects.filter(clinic=clinic).order_by("code"))
    rooms = list(Room.objects.filter(clinic=clinic).order_by("code"))

    windows: dict[int, list[Span]] = defaultdict(list)
    time_off: dict[int, list[Span]] = defaultdict(list)
    if not Closure.objects.filter(clinic=clinic, date=day).exists():
        for hours in WorkingHours.objects.filter(provider__clinic=clinic, weekday=day.weekday()):
            windows[hours.provider_id].append((instant(day, hours.start, tz), instant(day, hours.end, tz)))
        for off in TimeOff.objects.filter(
            provider__clinic=clinic, start__lt=day_span[1], end__gt=day_span[0]
        ):
            time_off[off.provider_id].append((off.start, off.end))
    opening = _union(span for spans in windows.values() for span in spans)

    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    booked_by_provider: dict[int, dt.timedelta] = defaultdict(dt.timedelta)
    booked_by_room: dict[int, dt.timedelta] = defaultdict(dt.timedelta)
    for row in _appointments_touching(clinic, day_span):
        starts_today = day_span[0] <= row["start"] < day_span[1]
        provider_counts = counts[row["provider_id"]]
        if row["status"] == AppointmentStatus.CANCELLED:
            if starts_today:
                provider_counts["cancellations"] += 1
                provider_counts["backfilled"] += int(row["was_backfilled"])
            continue
        held = _overlap((row["start"], row["end"]), day_span)
        booked_by_provider[row["provider_id"]] += held
        booked_by_room[row["room_id"]] += held
        if starts_today:
            provider_counts["appointments"] += 1
            if row["status"] == AppointmentStatus.NO_SHOW:
                provider_counts["no_shows"] += 1

    provider_rows = []
    for provider in providers:
        available = _minutes(subtract(_union(windows[provider.pk]), _union(time_off[provider.pk])))
        booked = _whole_minutes(booked_by_provider[provider.pk])
        tally = counts[provider.pk]
        provider_rows.append(
            ProviderDayStats(
                clinic=clinic,
                provider=provider,
                date=day,
                available_minutes=available,
                booked_minutes=booked,
                utilization=utilization(booked, available),
                appointments=tally["appointments"],
                cancellations=tally["cancellations"],
                no_shows=tally["no_shows"],
                backfilled=tally["backfilled"],
                computed_at=computed_at,
            )
        )
    room_available = _minutes(opening)
    room_rows = []
    for room in rooms:
        booked = _whole_minutes(booked_by_room[room.pk])
        room_rows.append(
            RoomDayStats(
                clinic=clinic,
                room=room,
                date=day,
                available_minutes=room_available,
                booked_minutes=booked,
                utilization=utilization(booked, room_available),
                computed_at=computed_at,
            )
        )
    return DayStats(clinic=clinic, date=day, providers=provider_rows, rooms=room_rows)


def _appointments_touching(clinic: Clinic, span: Span) -> Iterable[dict[str, Any]]:
    return (
        Appointment.objects.filter(clinic=clinic, start__lt=span[1], end__gt=span[0])
        .annotate(was_backfilled=Exists(Appointment.objects.filter(backfill_of=OuterRef("pk"))))
        .order_by()
        .values("provider_id", "room_id", "start", "end", "status", "was_backfilled")
    )


_STAT_FIELDS = [
    "available_minutes",
    "booked_minutes",
    "utilization",
    "appointments",
    "cancellations",
    "no_shows",
    "backfilled",
    "computed_at",
]


def _upsert(model: Any, rows: Sequence[Any], unique_fields: list[str]) -> None:
    """``update_or_create`` for many rows in one statement (INSERT ... ON CONFLICT)."""
    if not rows:
        return
    update_fields = [f for f in _STAT_FIELDS if hasattr(rows[0], f)]
    model.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=unique_fields, update_fields=update_fields
    )


def compute_no_show_rates(clinic: Clinic, day: dt.date, *, computed_at: dt.datetime) -> None:
    """Per provider and per appointment type, over the 90 local days ending with ``day``.

    Only appointments with a known outcome count; a provider or type with none in the
    window gets no row (its rate is unknown, not zero).
    """
    tz = clinic.tz
    first_day = day - dt.timedelta(days=NO_SHOW_RATE_WINDOW_DAYS - 1)
    decided = Appointment.objects.filter(
        clinic=clinic,
        status__in=OUTCOME_KNOWN,
        start__gte=instant(first_day, dt.time(0), tz),
        start__lt=instant(day + dt.timedelta(days=1), dt.time(0), tz),
    ).order_by()
    tallies = {
        "provider_id": decided.values("provider_id"),
        "appointment_type_id": decided.values("appointment_type_id"),
    }
    rows = []
    for scope, grouped in tallies.items():
        for tally in grouped.annotate(
            total=Count("pk"), no_shows=Count("pk", filter=Q(status=AppointmentStatus.NO_SHOW))
        ):
            rows.append(
                NoShowRate(
                    clinic=clinic,
                    date=day,
                    window_days=NO_SHOW_RATE_WINDOW_DAYS,
                    appointments=tally["total"],
                    no_shows=tally["no_shows"],
                    rate=round(tally["no_shows"] / tally["total"], 4),
                    computed_at=computed_at,
                    **{scope: tally[scope]},
                )
            )
    with transaction.atomic():
        NoShowRate.objects.filter(clinic=clinic, date=day).delete()
        NoShowRate.objects.bulk_create(rows)


def _freshness(clinic: Clinic, day: dt.date) -> dict[str, RawSQL]:
    """Asked alongside the stored rows, in the same query: has a booking change marked the
    day since, and how many providers and rooms has the clinic now (one added since the
    snapshot is missing from it; a deleted one takes its rows with it)."""
    return {
        "marked": RawSQL(
            "EXISTS (SELECT 1 FROM scheduling_statsdirtyday WHERE clinic_id = %s AND date = %s)",
            (clinic.pk, day),
            output_field=BooleanField(),
        ),
        "providers_now": RawSQL(
            "SELECT count(*) FROM clinic_provider WHERE clinic_id = %s",
            (clinic.pk,),
            output_field=IntegerField(),
        ),
        "rooms_now": RawSQL(
            "SELECT count(*) FROM clinic_room WHERE clinic_id = %s", (clinic.pk,), output_field=IntegerField()
        ),
    }


def stats_for_day(clinic: Clinic, day: dt.date, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The ``GET /api/v1/stats`` body for ``day``, from the stored snapshots; computed
    afresh, without storing anything, when none are stored, when a booking change has
    touched the day since, or when a provider or room was added since. A read never
    writes: the hourly job stores snapshots and clears the marks. ``computed_at`` says
    when the figures were computed."""
    now = now or timezone.now()
    providers: list[Any] = list(
        ProviderDayStats.objects.filter(clinic=clinic, date=day)
        .select_related("provider")
        .annotate(**_freshness(clinic, day))
        .order_by("provider__code")
    )
    rooms: list[Any] = list(
        RoomDayStats.objects.filter(clinic=clinic, date=day)
        .select_related("room")
        .annotate(**_freshness(clinic, day))
        .order_by("room__code")
    )
    first = (providers or rooms or [None])[0]
    if (
        first is None
        or first.marked
        or first.providers_now != len(providers)
        or first.rooms_now != len(rooms)
    ):
        computed = clinic_day(clinic, day, computed_at=now)
        providers, rooms = computed.providers, computed.rooms
    computed_at = min((row.computed_at for row in [*providers, *rooms]), default=now)
    available = sum(p.available_minutes for p in providers)
    booked = sum(p.booked_minutes for p in providers)
    return {
        "date": day.isoformat(),
        "computed_at": local_iso(computed_at, clinic.tz),
        "providers": [
            {
                "provider": p.provider.code,
                "available_minutes": p.available_minutes,
                "booked_minutes": p.booked_minutes,
                "utilization": p.utilization,
                "appointments": p.appointments,
                "cancellations": p.cancellations,
                "no_shows": p.no_shows,
                "backfilled": p.backfilled,
            }
            for p in providers
        ],
        "rooms": [
            {
                "room": r.room.code,
                "available_minutes": r.available_minutes,
                "booked_minutes": r.booked_minutes,
                "utilization": r.utilization,
            }
            for r in rooms
        ],
        "totals": {
            "available_minutes": available,
            "booked_minutes": booked,
            "utilization": utilization(booked, available),
            "appointments": sum(p.appointments for p in providers),
            "cancellations": sum(p.cancellations for p in providers),
            "no_shows": sum(p.no_shows for p in providers),
            "backfilled": sum(p.backfilled for p in providers),
        },
    }


def utilization(booked_minutes: int, available_minutes: int) -> float:
    return round(booked_minutes / available_minutes, 4) if available_minutes else 0.0


# --- Idempotency records ----------------------------------------------------------------

# How long a client may repeat a request with its Idempotency-Key and get the first answer.
IDEMPOTENCY_RECORDS_KEPT = dt.timedelta(hours=24)


def purge_idempotency_records(now: dt.datetime) -> int:
    """Delete the records of requests first answered more than a day before ``now``;
    returns how many. A record still being written (its request in flight) is younger."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=now - IDEMPOTENCY_RECORDS_KEPT).delete()
    return deleted


def purge_idempotency_records_job() -> str:
    return f"purged {purge_idempotency_records(timezone.now())} idempotency record(s)"


# --- Time spans -------------------------------------------------------------------------


def _union(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _overlap(span: Span, within: Span) -> dt.timedelta:
    return max(dt.timedelta(0), min(span[1], within[1]) - max(span[0], within[0]))


def _minutes(spans: Iterable[Span]) -> int:
    return _whole_minutes(sum((end - start for start, end in spans), dt.timedelta(0)))


def _whole_minutes(duration: dt.timedelta) -> int:
    return int(duration.total_seconds() // 60)

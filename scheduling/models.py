"""Bookings: appointments (with the database's no-double-booking guarantees), their
history, the waitlist and idempotent API requests."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q, Value

from clinic.models import AppointmentType, Clinic, Patient, Provider, Room, as_point_range


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CONFIRMED = "confirmed", "Confirmed"
    CHECKED_IN = "checked_in", "Checked in"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


# The statuses that hold time; only these take part in the exclusion constraints.
ACTIVE_STATUSES = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.CHECKED_IN,
)
_ACTIVE = Q(status__in=[s.value for s in ACTIVE_STATUSES])


def _range(start: str, end: str) -> Func:
    return Func(F(start), F(end), Value("[)"), function="tstzrange", output_field=DateTimeRangeField())


class AppointmentQuerySet(models.QuerySet["Appointment"]):
    def active(self) -> AppointmentQuerySet:
        return self.filter(_ACTIVE)

    def overlapping(self, start: dt.datetime, end: dt.datetime) -> AppointmentQuerySet:
        return self.filter(start__lt=end, end__gt=start)

    def blocking(self, start: dt.datetime, end: dt.datetime) -> AppointmentQuerySet:
        """Appointments whose blocked range (with buffers) overlaps ``[start, end)``."""
        return self.filter(blocked_start__lt=end, blocked_end__gt=start)


class Appointment(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="appointments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, related_name="appointments"
    )
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="appointments")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="appointments")
    start = models.DateTimeField()
    end = models.DateTimeField()
    # Stored, not computed from the type: the time this booking blocks must not change
    # when somebody edits the type's buffers later.
    blocked_start = models.DateTimeField(help_text="Start minus the type's buffer before.")
    blocked_end = models.DateTimeField(help_text="End plus the type's buffer after.")
    seat = models.PositiveSmallIntegerField(
        default=0, help_text="0 is the regular seat; 1.. are overbooking seats."
    )
    status = models.CharField(
        max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rescheduled_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="rescheduled_to"
    )
    backfill_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="backfilled_by",
        help_text="The cancelled appointment whose freed time this booking refilled.",
    )

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["start", "provider__code"]
        permissions = [("cancel_appointment", "Can cancel appointments")]
        indexes = [
            models.Index(fields=["clinic", "start"]),
            models.Index(fields=["patient", "start"]),
            models.Index(fields=["status", "end"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="appointment_end_after_start"),
            models.CheckConstraint(
                condition=Q(blocked_start__lte=F("start")) & Q(blocked_end__gte=F("end")),
                name="appointment_blocked_range_covers_appointment",
            ),
            models.CheckConstraint(condition=Q(seat__gte=0), name="appointment_seat_not_negative"),
            models.CheckConstraint(
                condition=Q(status__in=AppointmentStatus.values), name="appointment_status_valid"
            ),
            ExclusionConstraint(
                name="appointment_no_provider_overlap",
                expressions=[
                    (as_point_range("provider_id"), RangeOperators.OVERLAPS),
                    (as_point_range("seat"), RangeOperators.OVERLAPS),
                    (_range("blocked_start", "blocked_end"), RangeOperators.OVERLAPS),
                ],
                condition=_ACTIVE,
            ),
            ExclusionConstraint(
                name="appointment_no_room_overlap",
                expressions=[
                    (as_point_range("room_id"), RangeOperators.OVERLAPS),
                    (as_point_range("seat"), RangeOperators.OVERLAPS),
                    (_range("blocked_start", "blocked_end"), RangeOperators.OVERLAPS),
                ],
                condition=_ACTIVE,
            ),
            ExclusionConstraint(
                name="appointment_no_patient_overlap",
                expressions=[
                    (as_point_range("patient_id"), RangeOperators.OVERLAPS),
                    (_range("start", "end"), RangeOperators.OVERLAPS),
                ],
                condition=_ACTIVE,
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.appointment_type} {self.start:%Y-%m-%d %H:%M} {self.provider}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def overbook(self) -> bool:
        return self.seat > 0


# The constraint names, by what they protect: the booking service turns an
# IntegrityError into a `slot_taken` error naming the conflict.
CONFLICT_BY_CONSTRAINT = {
    "appointment_no_provider_overlap": "provider",
    "appointment_no_room_overlap": "room",
    "appointment_no_patient_overlap": "patient",
}


class HistoryRow(models.Model):
    """One append-only change record: who, when, what. Written by the services only."""

    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True


class AppointmentHistory(HistoryRow):
    """Every change to an appointment."""

    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="history")

    class Meta:
        ordering = ["appointment", "at", "pk"]
        verbose_name_plural = "appointment history"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} #{self.appointment_id}"


class WaitlistStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class WaitlistEntryQuerySet(models.QuerySet["WaitlistEntry"]):
    def open(self) -> WaitlistEntryQuerySet:
        return self.filter(status=WaitlistStatus.OPEN)


class WaitlistEntry(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="waitlist")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="waitlist_entries")
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    earliest = models.DateField()
    latest = models.DateField()
    note = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=8, choices=WaitlistStatus.choices, default=WaitlistStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        Appointment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The booking that satisfied this entry.",
    )
    close_reason = models.CharField(max_length=200, blank=True)

    objects = WaitlistEntryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "waitlist entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(latest__gte=F("earliest")), name="waitlist_latest_not_before_earliest"
            ),
            models.CheckConstraint(
                condition=Q(status__in=WaitlistStatus.values), name="waitlist_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} for {self.appointment_type} {self.earliest}..{self.latest}"


class WaitlistHistory(HistoryRow):
    """Every change to a waitlist entry."""

    entry = models.ForeignKey(WaitlistEntry, on_delete=models.PROTECT, related_name="history")

    class Meta:
        ordering = ["entry", "at", "pk"]
        verbose_name_plural = "waitlist history"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} waitlist #{self.entry_id}"


IDEMPOTENCY_KEY_CONSTRAINT = "idempotency_unique_key"


class IdempotencyRecord(models.Model):
    """The first answer to a creating POST sent with an ``Idempotency-Key`` header.

    Written in the transaction of the change it answers (``clinic.api.idempotent``): it is
    inserted first, so a concurrent request with the same key waits on the unique
    constraint until that transaction ends, and its answer is filled in before the commit.
    A committed record therefore always has its answer, and exists exactly when the change
    does. Purged after a day (``scheduling.jobs.purge_idempotency_records``).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=255)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request body")
    # Empty only inside the transaction that writes the record (see above).
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "clinic", "method", "path", "key"], name=IDEMPOTENCY_KEY_CONSTRAINT
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_at")]

    def __str__(self) -> str:
        return f"{self.key} {self.method} {self.path} -> {self.status_code}"


# Daily statistics: snapshots written by `scheduling.jobs.compute_stats` (hourly and on
# demand) and read by the stats API, so a report never scans a year of appointments.


class StatsDirtyDay(models.Model):
    """A mark that a booking change touched a clinic's local day, written in the change's
    own transaction, so that day's snapshots are recomputed (by the stats job, or when the
    day is asked for). Marks are only ever inserted, never updated: concurrent bookings of
    one day never wait on each other here. Whoever recomputes deletes the marks it read
    before computing, so a change that commits meanwhile keeps its own mark."""

    id = models.BigAutoField(primary_key=True)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    marked_at = models.DateTimeField()

    class Meta:
        ordering = ["date", "pk"]
        indexes = [models.Index(fields=["clinic", "date"], name="stats_dirty_day")]

    def __str__(self) -> str:
        return f"{self.date} (marked {self.marked_at:%Y-%m-%d %H:%M})"


class ProviderDayStats(models.Model):
    """One provider's day, in the clinic's local calendar.

    ``booked_minutes`` counts every appointment that is not cancelled (a no-show held
    the time too); overlapping overbooking seats each count, so utilization may exceed 1.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="day_stats")
    date = models.DateField()
    available_minutes = models.PositiveIntegerField(default=0)
    booked_minutes = models.PositiveIntegerField(default=0)
    utilization = models.FloatField(default=0.0)
    appointments = models.PositiveIntegerField(default=0)
    cancellations = models.PositiveIntegerField(default=0)
    no_shows = models.PositiveIntegerField(default=0)
    backfilled = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["date", "provider__code"]
        verbose_name_plural = "provider day stats"
        constraints = [
            models.UniqueConstraint(fields=["clinic", "provider", "date"], name="provider_day_stats_unique"),
        ]
        indexes = [models.Index(fields=["clinic", "date"], name="provider_day_stats_day")]

    def __str__(self) -> str:
        return f"{self.provider} {self.date}"


class RoomDayStats(models.Model):
    """One room's day. A room is available while the clinic is open: the union of all
    providers' working windows that day (none on a closure date)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="day_stats")
    date = models.DateField()
    available_minutes = models.PositiveIntegerField(default=0)
    booked_minutes = models.PositiveIntegerField(default=0)
    utilization = models.FloatField(default=0.0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["date", "room__code"]
        verbose_name_plural = "room day stats"
        constraints = [
            models.UniqueConstraint(fields=["clinic", "room", "date"], name="room_day_stats_unique"),
        ]
        indexes = [models.Index(fields=["clinic", "date"], name="room_day_stats_day")]

    def __str__(self) -> str:
        return f"{self.room} {self.date}"


class NoShowRate(models.Model):
    """The no-show rate of one provider or one appointment type over the 90 days up to
    and including ``date``: no-shows / appointments with a known outcome (checked in,
    completed or no-show), by local start date."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    appointment_type = models.ForeignKey(
        AppointmentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    window_days = models.PositiveSmallIntegerField(default=90)
    appointments = models.PositiveIntegerField(default=0)
    no_shows = models.PositiveIntegerField(default=0)
    rate = models.FloatField(default=0.0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["date", "provider", "appointment_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "date", "provider", "appointment_type"],
                nulls_distinct=False,
                name="no_show_rate_unique_scope",
            ),
            models.CheckConstraint(
                condition=(Q(provider__isnull=False) & Q(appointment_type__isnull=True))
                | (Q(provider__isnull=True) & Q(appointment_type__isnull=False)),
                name="no_show_rate_one_scope",
            ),
        ]

    def __str__(self) -> str:
        scope = self.provider or self.appointment_type
        return f"{scope} {self.date}: {self.rate:.1%}"

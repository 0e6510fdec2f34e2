"""The transactional outbox: one row per appointment event, written in the transaction of
the change it announces and delivered to the notification hub after commit."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone


class EventType(models.TextChoices):
    """Every event the engine announces (notifications.md, "Events")."""

    BOOKED = "appointment.booked", "Appointment booked"
    CONFIRMED = "appointment.confirmed", "Appointment confirmed"
    CANCELLED = "appointment.cancelled", "Appointment cancelled"
    RESCHEDULED = "appointment.rescheduled", "Appointment rescheduled"
    CHECKED_IN = "appointment.checked_in", "Appointment checked in"
    NO_SHOW = "appointment.no_show", "Appointment no-show"
    WAITLIST_SLOT_AVAILABLE = "waitlist.slot_available", "Waitlist slot available"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (no hub configured)"


# Not yet delivered: an event later in its appointment's sequence waits for these.
UNSENT = (OutboxStatus.PENDING, OutboxStatus.FAILED)


class OutboxEventQuerySet(models.QuerySet["OutboxEvent"]):
    def pending(self) -> OutboxEventQuerySet:
        return self.filter(status=OutboxStatus.PENDING)

    def due(self, now: dt.datetime) -> OutboxEventQuerySet:
        return self.pending().filter(next_attempt_at__lte=now)

    def heads(self) -> OutboxEventQuerySet:
        """Pending events that are next in their appointment's order: no earlier event of
        the appointment is still pending or failed."""
        earlier_unsent = OutboxEvent.objects.filter(
            appointment_id=OuterRef("appointment_id"), sequence__lt=OuterRef("sequence"), status__in=UNSENT
        )
        return self.pending().exclude(Exists(earlier_unsent))

    def unclaimed(self, now: dt.datetime) -> OutboxEventQuerySet:
        """Not in a worker's hands: never claimed, or that worker's lease ran out."""
        return self.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))


class OutboxEvent(models.Model):
    event_type = models.CharField(max_length=64, choices=EventType.choices)
    # The hub de-duplicates on it, so every retry sends the same one.
    event_id = models.CharField(
        max_length=128, unique=True, help_text="<event_type>:<appointment id>:<sequence>"
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.PROTECT, related_name="outbox_events"
    )
    # Increasing across all event types of one appointment: the delivery order.
    sequence = models.PositiveIntegerField()
    payload = models.JSONField()
    status = models.CharField(max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Set while a worker posts the event (claimed in a short transaction, posted with no
    # transaction open); cleared with the outcome. A worker that dies leaves it to run out,
    # and the event is claimed again.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = "outbox event"
        constraints = [
            models.UniqueConstraint(fields=["appointment", "sequence"], name="outbox_event_unique_sequence"),
            models.CheckConstraint(
                condition=Q(status__in=OutboxStatus.values), name="outbox_event_status_valid"
            ),
        ]
        indexes = [
            # The sweep's question: which pending rows are due? Sent rows, the vast
            # majority, stay out of this index.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status=OutboxStatus.PENDING),
                name="outbox_event_pending_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.status})"

"""Automatic waitlist offers: a freed slot, and the patients it was offered to, round by round.

A ``FreedSlot`` is the time a cancelled (or rescheduled) appointment gave back, while it is
being offered; a ``SlotOffer`` is one patient's personal offer of it, reached through a
single-use link whose token is stored only as its SHA-256.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Q

from clinic.models import Clinic, Patient
from scheduling.models import Appointment, WaitlistEntry


class FreedSlotStatus(models.TextChoices):
    OPEN = "open", "Being offered"
    TAKEN = "taken", "Taken through an offer"
    ENDED = "ended", "Offers ended"


class FreedSlot(models.Model):
    """The time ``freed`` (a cancelled appointment) gave back, offered round by round until
    someone accepts it or nobody is left to offer it to."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    # The slot is exactly this appointment's type, provider, room and time; it is cancelled,
    # so those never change.
    freed = models.OneToOneField(Appointment, on_delete=models.PROTECT, related_name="offered_slot")
    overbook = models.BooleanField(default=False, help_text="Booking it takes an overbooking seat.")
    status = models.CharField(max_length=8, choices=FreedSlotStatus.choices, default=FreedSlotStatus.OPEN)
    round = models.PositiveSmallIntegerField(default=1, help_text="The round offered last.")
    round_ends_at = models.DateTimeField(help_text="When the last round's hold runs out.")
    booked = models.ForeignKey(
        Appointment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The appointment an accepted offer booked.",
    )
    end_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=FreedSlotStatus.values), name="freed_slot_status_valid"
            ),
        ]
        indexes = [
            # The every-minute job's question: which open slots' rounds have run out?
            models.Index(
                fields=["round_ends_at"], condition=Q(status="open"), name="freed_slot_open_round_ends"
            ),
        ]

    def __str__(self) -> str:
        return f"Slot of appointment #{self.freed_id} ({self.get_status_display().lower()})"


class OfferStatus(models.TextChoices):
    OFFERED = "offered", "Offered"
    ACCEPTED = "accepted", "Accepted"
    TAKEN = "taken", "Taken by someone else"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class SlotOfferQuerySet(models.QuerySet["SlotOffer"]):
    def outstanding(self) -> SlotOfferQuerySet:
        return self.filter(status=OfferStatus.OFFERED)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SlotOffer(models.Model):
    """One patient's offer of a freed slot; its link works once, until ``expires_at``."""

    slot = models.ForeignKey(FreedSlot, on_delete=models.CASCADE, related_name="offers")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    waitlist_entry = models.ForeignKey(
        WaitlistEntry,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The entry the patient waits with; when it closes, the offer is withdrawn.",
    )
    round = models.PositiveSmallIntegerField()
    rank = models.PositiveSmallIntegerField(help_text="The patient's place among the slot's candidates.")
    offered_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=9, choices=OfferStatus.choices, default=OfferStatus.OFFERED)
    # Only the hash: the raw token exists in the patient's message (and the outbox payload
    # that carries it), never in this table.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    used_at = models.DateTimeField(null=True, blank=True, help_text="When the link was used to accept.")
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = SlotOfferQuerySet.as_manager()

    class Meta:
        ordering = ["slot", "round", "rank"]
        constraints = [
            # A patient is offered a given slot once, whatever the round.
            models.UniqueConstraint(fields=["slot", "patient"], name="slot_offer_once_per_patient"),
            models.CheckConstraint(
                condition=Q(status__in=OfferStatus.values), name="slot_offer_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("offered_at")), name="slot_offer_holds"
            ),
        ]

    def __str__(self) -> str:
        return f"Offer of slot {self.slot_id} to patient {self.patient_id} ({self.status})"

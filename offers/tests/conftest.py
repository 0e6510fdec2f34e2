"""Fixtures for the offers: a small clinic (scheduling's), a booked slot, patients waiting
for it, and the freed slot once it is cancelled, with each offer's raw token as the hub's
event carries it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.utils import timezone

from notifications.models import EventType, OutboxEvent
from offers.models import FreedSlot, SlotOffer
from scheduling import services
from scheduling.models import Appointment, WaitlistEntry
from scheduling.tests.conftest import small_clinic  # noqa: F401  (a fixture)


def at(setup, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(setup["day"], dt.time(hour, minute), tzinfo=setup["clinic"].tz)


def book(setup, patient, start: dt.datetime, *, now=None) -> Appointment:
    return services.appointment_book(
        clinic=setup["clinic"],
        patient=patient,
        appointment_type=setup["consult"],
        provider=setup["providers"][0],
        room=setup["rooms"][0],
        start=start,
        now=now,
    )


def wait(setup, patient) -> WaitlistEntry:
    return services.waitlist_add(
        clinic=setup["clinic"],
        patient=patient,
        appointment_type=setup["consult"],
        earliest=setup["day"],
        latest=setup["day"],
    )


def token_of(event: OutboxEvent) -> str:
    return parse_qs(urlsplit(event.payload["offer"]["accept_url"]).query)["token"][0]


@dataclass
class Freed:
    """A cancelled 09:00 consult of dr-a in r1 and what offering it made."""

    setup: dict
    appointment: Appointment  # the cancelled one
    holder: object  # its patient
    waiting: list  # patients on the waitlist, in their order
    now: dt.datetime  # when it was cancelled

    @property
    def slot(self) -> FreedSlot:
        return FreedSlot.objects.get(freed=self.appointment)

    def events(self) -> list[OutboxEvent]:
        return list(
            OutboxEvent.objects.filter(
                event_type=EventType.WAITLIST_SLOT_AVAILABLE, appointment=self.appointment
            ).order_by("sequence")
        )

    def tokens(self) -> dict[str, str]:
        """Patient code -> the raw token of their latest offer, from the hub's events."""
        return {e.payload["patient"]["code"]: token_of(e) for e in self.events()}

    def booked(self) -> list[Appointment]:
        """The active bookings of the freed time (there must never be two)."""
        return list(
            Appointment.objects.active().filter(
                start=self.appointment.start, provider=self.appointment.provider
            )
        )

    def offer_of(self, patient) -> SlotOffer:
        return SlotOffer.objects.get(slot__freed=self.appointment, patient=patient)


def free_a_slot(setup, *, waiting: int, now: dt.datetime | None = None) -> Freed:
    now = now or timezone.now()
    patients = setup["patients"]
    holder = patients[0]
    appointment = book(setup, holder, at(setup, 9), now=now)
    for patient in patients[1 : waiting + 1]:
        wait(setup, patient)
    services.appointment_cancel(appointment_id=appointment.pk, reason="ill", now=now)
    return Freed(setup, appointment, holder, patients[1 : waiting + 1], now)


@pytest.fixture
def freed(small_clinic, no_hub) -> Freed:  # noqa: F811
    """Four patients waiting: three are offered the slot at once, the fourth in round two."""
    return free_a_slot(small_clinic, waiting=4)


@pytest.fixture(autouse=True)
def fresh_rate_counts():
    """The page's per-address counts live in the cache, which outlives a test."""
    cache.clear()


@pytest.fixture
def no_hub(settings):
    settings.NOTIFICATION_HUB_URL = ""
    return settings

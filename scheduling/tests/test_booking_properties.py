"""Booking what the engine offers always succeeds in the database, and is then gone."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from clinic.models import OverbookingRule
from scheduling import selectors, services

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_offered_slot_books_cleanly_and_disappears(small_clinic, seed):
    rng = random.Random(seed)
    clinic = small_clinic["clinic"]
    OverbookingRule.objects.create(clinic=clinic, max_extra=1)
    day = small_clinic["day"]
    booked = 0
    for _ in range(40):
        patient = rng.choice(small_clinic["patients"])
        kind = rng.choice([small_clinic["consult"], small_clinic["ecg"]])
        result = selectors.search_slots(
            clinic=clinic,
            appointment_type_code=kind.code,
            date_from=day,
            date_to=day,
            now=timezone.now(),
            patient_code=patient.code,
            limit=None,
        )
        if not result.slots:
            continue
        slot = rng.choice(result.slots[:25])
        providers = {p.code: p for p in small_clinic["providers"]}
        rooms = {r.code: r for r in small_clinic["rooms"]}
        appointment = services.appointment_book(
            clinic=clinic,
            patient=patient,
            appointment_type=kind,
            provider=providers[slot.provider],
            room=rooms[slot.room],
            start=slot.start,
            overbook=slot.overbook,
        )
        booked += 1
        assert appointment.seat == slot.seat
        again = selectors.search_slots(
            clinic=clinic,
            appointment_type_code=kind.code,
            date_from=day,
            date_to=day,
            now=timezone.now(),
            limit=None,
        )
        assert (slot.provider, slot.start, slot.seat) not in {
            (s.provider, s.start, s.seat) for s in again.slots
        }
    assert booked >= 20

"""Accepting an offer: the first acceptance books through the normal booking service, every
later one books nothing; expired, reused, unknown and tampered links book nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.errors import NotFound
from notifications.models import EventType, OutboxEvent
from offers import services as offers
from offers.models import FreedSlotStatus, OfferStatus
from offers.tests.conftest import at, book
from scheduling import services
from scheduling.models import AppointmentStatus, WaitlistEntry, WaitlistStatus

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)


def test_accepting_books_the_slot_through_the_booking_service(freed):
    first = freed.waiting[0]
    page = offers.accept_offer(token=freed.tokens()[first.code], now=freed.now + SECOND)

    assert page.state == "accepted"
    [booked] = freed.booked()
    assert (booked.patient, booked.backfill_of, booked.status) == (
        first,
        freed.appointment,
        AppointmentStatus.BOOKED,
    )
    assert booked.room == freed.appointment.room and booked.end == freed.appointment.end
    # The normal booking's history and event, and the patient no longer waits.
    assert booked.history.get().changes["backfill_of"] == freed.appointment.pk
    assert OutboxEvent.objects.filter(appointment=booked, event_type=EventType.BOOKED).count() == 1
    entry = WaitlistEntry.objects.get(patient=first)
    assert (entry.status, entry.closed_by) == (WaitlistStatus.CLOSED, booked)
    # The offer records what it booked; the slot is taken; the others' offers say so.
    offer = freed.offer_of(first)
    assert (offer.status, offer.appointment, offer.used_at) == (
        OfferStatus.ACCEPTED,
        booked,
        freed.now + SECOND,
    )
    slot = freed.slot
    assert (slot.status, slot.booked) == (FreedSlotStatus.TAKEN, booked)
    assert [freed.offer_of(p).status for p in freed.waiting[1:3]] == [OfferStatus.TAKEN] * 2


def test_the_page_shows_the_slot_and_books_nothing(freed):
    page = offers.offer_page(token=freed.tokens()[freed.waiting[0].code], now=freed.now + SECOND)
    tz = freed.setup["clinic"].tz
    assert page.state == "open"
    assert (page.start, page.provider, page.appointment_type, page.clinic) == (
        at(freed.setup, 9).astimezone(tz),
        freed.appointment.provider.name,
        "Consultation",
        "Riverside Family Practice",
    )
    assert freed.booked() == []
    assert freed.offer_of(freed.waiting[0]).status == OfferStatus.OFFERED


def test_a_second_acceptance_of_the_same_link_books_nothing(freed):
    token = freed.tokens()[freed.waiting[0].code]
    offers.accept_offer(token=token, now=freed.now + SECOND)
    with pytest.raises(offers.OfferClosed) as refusal:
        offers.accept_offer(token=token, now=freed.now + 2 * SECOND)
    assert refusal.value.details["page"].state == "used"
    assert len(freed.booked()) == 1
    assert offers.offer_page(token=token, now=freed.now + 3 * SECOND).state == "used"


def test_a_later_acceptance_by_another_patient_finds_it_taken(freed):
    tokens = freed.tokens()
    offers.accept_offer(token=tokens[freed.waiting[0].code], now=freed.now + SECOND)
    second = tokens[freed.waiting[1].code]
    assert offers.offer_page(token=second, now=freed.now + 2 * SECOND).state == "taken"
    with pytest.raises(offers.OfferTaken) as refusal:
        offers.accept_offer(token=second, now=freed.now + 2 * SECOND)
    assert refusal.value.details["page"].state == "taken"
    assert [a.patient for a in freed.booked()] == [freed.waiting[0]]
    assert WaitlistEntry.objects.get(patient=freed.waiting[1]).status == WaitlistStatus.OPEN


def test_an_expired_link_books_nothing(freed):
    token = freed.tokens()[freed.waiting[0].code]
    expired_at = freed.now + dt.timedelta(minutes=15)
    assert offers.offer_page(token=token, now=expired_at - SECOND).state == "open"
    assert offers.offer_page(token=token, now=expired_at).state == "expired"
    with pytest.raises(offers.OfferClosed) as refusal:
        offers.accept_offer(token=token, now=expired_at)
    assert refusal.value.details["page"].state == "expired"
    assert freed.booked() == []
    # Still expired once the next round has been offered to someone else.
    offers.offer_next_rounds(now=expired_at)
    with pytest.raises(offers.OfferClosed):
        offers.accept_offer(token=token, now=expired_at + SECOND)
    assert freed.booked() == []


def test_the_next_rounds_patient_can_accept(freed):
    later = freed.now + dt.timedelta(minutes=15)
    offers.offer_next_rounds(now=later)
    fourth = freed.waiting[3]
    assert offers.accept_offer(token=freed.tokens()[fourth.code], now=later + SECOND).state == "accepted"
    assert [a.patient for a in freed.booked()] == [fourth]


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "A" * 5000])
def test_an_unknown_or_malformed_link_books_nothing(freed, token):
    with pytest.raises(NotFound):
        offers.offer_page(token=token, now=freed.now)
    with pytest.raises(NotFound):
        offers.accept_offer(token=token, now=freed.now)
    assert freed.booked() == []


def test_a_tampered_link_books_nothing(freed):
    token = freed.tokens()[freed.waiting[0].code]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(NotFound):
        offers.accept_offer(token=tampered, now=freed.now + SECOND)
    assert freed.booked() == []


def test_a_slot_booked_at_the_desk_meanwhile_answers_taken_to_every_offer(freed):
    s = freed.setup
    desk_booking = book(s, s["patients"][10], at(s, 9), now=freed.now)
    tokens = freed.tokens()
    assert offers.offer_page(token=tokens[freed.waiting[1].code], now=freed.now + SECOND).state == "taken"
    with pytest.raises(offers.OfferTaken):
        offers.accept_offer(token=tokens[freed.waiting[0].code], now=freed.now + SECOND)
    assert freed.booked() == [desk_booking]
    assert freed.slot.status == FreedSlotStatus.ENDED
    assert [freed.offer_of(p).status for p in freed.waiting[:3]] == [OfferStatus.TAKEN] * 3
    with pytest.raises(offers.OfferTaken):
        offers.accept_offer(token=tokens[freed.waiting[2].code], now=freed.now + SECOND)


def test_a_patient_who_no_longer_waits_cannot_accept(freed):
    first = freed.waiting[0]
    entry = WaitlistEntry.objects.get(patient=first)
    services.waitlist_close(entry_id=entry.pk, clinic=freed.setup["clinic"], reason="found another practice")
    token = freed.tokens()[first.code]
    assert offers.offer_page(token=token, now=freed.now + SECOND).state == "withdrawn"
    with pytest.raises(offers.OfferClosed):
        offers.accept_offer(token=token, now=freed.now + SECOND)
    assert freed.booked() == []


def test_a_patient_busy_at_that_time_meanwhile_books_nothing_and_others_still_can(freed):
    s, first = freed.setup, freed.waiting[0]
    services.appointment_book(
        clinic=s["clinic"],
        patient=first,
        appointment_type=s["ecg"],
        provider=s["providers"][1],
        room=s["rooms"][2],
        start=at(s, 9),
        now=freed.now,
    )
    tokens = freed.tokens()
    with pytest.raises(offers.OfferClosed) as refusal:
        offers.accept_offer(token=tokens[first.code], now=freed.now + SECOND)
    assert refusal.value.details["page"].state == "unavailable"
    assert freed.offer_of(first).status == OfferStatus.WITHDRAWN
    second = freed.waiting[1]
    assert offers.accept_offer(token=tokens[second.code], now=freed.now + 2 * SECOND).state == "accepted"

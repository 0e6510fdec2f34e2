"""A freed slot is offered at once to the best waitlisted candidates, through the hub with a
personal accept link, and to the next ones when the hold runs out."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from notifications.models import EventType, OutboxEvent
from offers import services as offers
from offers.models import FreedSlot, FreedSlotStatus, OfferStatus, SlotOffer, hash_token
from offers.tasks import next_rounds_job
from offers.tests.conftest import at, book, free_a_slot, token_of, wait
from scheduling import services

pytestmark = pytest.mark.django_db


def test_a_cancellation_offers_the_slot_to_the_first_three_waiting_at_once(freed, settings):
    events = freed.events()
    assert [e.payload["patient"]["code"] for e in events] == [p.code for p in freed.waiting[:3]]
    hold = dt.timedelta(minutes=freed.setup["clinic"].offer_hold_minutes)
    assert hold == dt.timedelta(minutes=15)  # the clinic's default
    for event in events:
        offer = event.payload["offer"]
        url = urlsplit(offer["accept_url"])
        assert f"{url.scheme}://{url.netloc}" == settings.PUBLIC_BASE_URL
        assert url.path == "/offers/accept"
        assert dt.datetime.fromisoformat(offer["expires_at"]) == (freed.now + hold).replace(microsecond=0)
        assert event.payload["slot"]["start"] == at(freed.setup, 9).isoformat()
        assert event.payload["provider"]["code"] == "dr-a"
    offers_made = list(SlotOffer.objects.filter(slot__freed=freed.appointment).order_by("rank"))
    assert [(o.patient, o.round, o.status) for o in offers_made] == [
        (p, 1, OfferStatus.OFFERED) for p in freed.waiting[:3]
    ]
    assert all(o.expires_at == freed.now + hold for o in offers_made)
    assert freed.slot.round_ends_at == freed.now + hold


def test_each_link_is_personal_and_only_its_hash_is_stored(freed):
    tokens = freed.tokens()
    assert len(set(tokens.values())) == 3 and all(len(t) >= 43 for t in tokens.values())
    for patient in freed.waiting[:3]:
        offer = freed.offer_of(patient)
        assert offer.token_hash == hash_token(tokens[patient.code])
        assert tokens[patient.code] not in str(SlotOffer.objects.filter(pk=offer.pk).values().get())


def test_the_offer_names_the_waitlist_entry_it_answers(freed):
    offer = freed.offer_of(freed.waiting[0])
    assert offer.waitlist_entry is not None and offer.waitlist_entry.patient == freed.waiting[0]


def test_the_event_goes_to_the_hub_with_the_link_when_a_hub_is_set(
    small_clinic, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_HUB_URL = "http://127.0.0.1:9"  # never reached: delivery is not run
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        freed = free_a_slot(small_clinic, waiting=1)
    event = freed.events()[0]
    assert event.status == "pending" and event.payload["offer"]["accept_url"].startswith("http://")
    assert callbacks  # its delivery is queued after commit


def test_patients_who_only_cancelled_recently_get_no_offer(small_clinic, no_hub):
    s = small_clinic
    earlier = book(s, s["patients"][5], at(s, 14))
    services.appointment_cancel(appointment_id=earlier.pk, reason="changed plans")
    freed = free_a_slot(s, waiting=0)
    candidates = services.backfill_candidates(freed=freed.appointment, now=freed.now)
    assert [c.source for c in candidates] == ["recent_cancellation"]  # a candidate for the desk
    assert not FreedSlot.objects.filter(freed=freed.appointment).exists()
    assert freed.events() == []


def test_a_reschedule_offers_the_time_it_gives_up(small_clinic, no_hub):
    s = small_clinic
    old = book(s, s["patients"][0], at(s, 9))
    wait(s, s["patients"][1])
    services.appointment_reschedule(appointment_id=old.pk, start=at(s, 11))
    offer = SlotOffer.objects.get(slot__freed=old)
    assert offer.patient == s["patients"][1]


def test_nothing_happens_before_the_hold_runs_out(freed):
    hold = dt.timedelta(minutes=15)
    run = offers.offer_next_rounds(now=freed.now + hold - dt.timedelta(seconds=1))
    assert (run.offered, run.ended) == (0, 0)
    assert len(freed.events()) == 3
    assert SlotOffer.objects.outstanding().count() == 3


def test_the_next_round_is_offered_after_the_hold_and_then_the_offers_end(freed):
    hold = dt.timedelta(minutes=15)
    later = freed.now + hold
    run = offers.offer_next_rounds(now=later)
    assert (run.offered, run.ended, run.failed) == (1, 0, 0)
    assert [o.status for o in SlotOffer.objects.filter(round=1)] == [OfferStatus.EXPIRED] * 3
    fourth = freed.offer_of(freed.waiting[3])
    assert (fourth.round, fourth.status, fourth.expires_at) == (2, OfferStatus.OFFERED, later + hold)
    events = freed.events()
    assert [e.payload["patient"]["code"] for e in events] == [p.code for p in freed.waiting]
    assert token_of(events[-1]) and fourth.token_hash == hash_token(token_of(events[-1]))
    assert offers.offer_next_rounds(now=later + dt.timedelta(minutes=1)).offered == 0  # still held

    run = offers.offer_next_rounds(now=later + hold)
    assert (run.offered, run.ended) == (0, 1)
    slot = freed.slot
    assert slot.status == FreedSlotStatus.ENDED and "offered" in slot.end_reason
    assert freed.offer_of(freed.waiting[3]).status == OfferStatus.EXPIRED
    assert len(freed.events()) == 4  # nobody was offered it twice


def test_a_slot_booked_at_the_desk_meanwhile_is_offered_to_nobody_else(freed):
    s = freed.setup
    book(s, s["patients"][10], at(s, 9), now=freed.now)
    offers.offer_next_rounds(now=freed.now + dt.timedelta(minutes=15))
    slot = freed.slot
    assert slot.status == FreedSlotStatus.ENDED
    assert "Nobody can be offered this time" in slot.end_reason
    assert len(freed.events()) == 3


def test_the_job_offers_due_rounds_and_says_what_it_did(freed):
    FreedSlot.objects.filter(pk=freed.slot.pk).update(round_ends_at=freed.now - dt.timedelta(seconds=1))
    assert next_rounds_job() == "offered 1 slot(s) to their next round; ended 0; failed 0"
    assert len(freed.events()) == 4


def test_migrate_schedules_the_next_round_job_every_minute():
    Schedule.objects.filter(func="offers.tasks.next_rounds_job").delete()
    call_command("migrate", verbosity=0)
    schedule = Schedule.objects.get(func="offers.tasks.next_rounds_job")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)


def test_a_failing_slot_holds_up_no_other(freed, small_clinic, monkeypatch):
    real = offers.offer_next_round
    broken = freed.slot.pk

    def flaky(*, slot_id, now):
        if slot_id == broken:
            raise RuntimeError("boom")
        return real(slot_id=slot_id, now=now)

    s = small_clinic
    other = book(s, s["patients"][0], at(s, 10), now=freed.now)
    services.appointment_cancel(appointment_id=other.pk, now=freed.now)
    monkeypatch.setattr(offers, "offer_next_round", flaky)
    run = offers.offer_next_rounds(now=freed.now + dt.timedelta(minutes=15))
    assert (run.offered, run.failed) == (1, 1)
    assert OutboxEvent.objects.filter(
        event_type=EventType.WAITLIST_SLOT_AVAILABLE, appointment=other
    ).exists()
    assert freed.slot.status == FreedSlotStatus.OPEN  # left for the next minute

"""Delivery to a real HTTP server standing in for the hub: whatever the hub does, the
change is committed, the event is not lost, and it arrives once, in order."""

from __future__ import annotations

import ast
import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler

from notifications import delivery
from notifications.delivery import deliver_event, retry_failed, sweep_outbox
from notifications.models import OutboxEvent, OutboxStatus
from notifications.outbox import record_event
from notifications.tests.conftest import API_KEY
from notifications.tests.hub import Reply, closed_port_url

pytestmark = pytest.mark.django_db(transaction=True)


def later(hours: float = 1) -> dt.datetime:
    """A sweep far enough ahead that every backoff has run out."""
    return timezone.now() + dt.timedelta(hours=hours)


def book(appointment, event_type: str = "appointment.booked") -> OutboxEvent:
    with transaction.atomic():
        event = record_event(event_type=event_type, appointment=appointment)
    event.refresh_from_db()
    return event


def test_booked_event_arrives_with_the_api_key_and_the_contract_body(
    appointment, hub, hub_settings, sync_tasks
):
    with transaction.atomic():
        event = record_event(event_type="appointment.booked", appointment=appointment)
        assert hub.received == [], "the hub is only contacted after commit"

    assert len(hub.received) == 1
    request = hub.received[0]
    assert request.path == "/api/events"
    assert request.headers["X-API-Key"] == API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {
        "event_type": "appointment.booked",
        "event_id": f"appointment.booked:{appointment.pk}:1",
        "payload": event.payload,
    }
    event.refresh_from_db()
    assert event.status == OutboxStatus.SENT
    assert (event.attempts, event.last_status_code) == (1, 200)
    assert event.sent_at is not None


@pytest.mark.parametrize("trouble", ["refused", "503", "hang"])
def test_hub_trouble_neither_fails_nor_loses_the_event(
    trouble, appointment, hub, hub_settings, sync_tasks, short_timeout, settings
):
    if trouble == "refused":
        settings.NOTIFICATION_HUB_URL = closed_port_url()
    elif trouble == "503":
        hub.reply(Reply(503))
    else:
        hub.reply(Reply(200, hang_seconds=1.5))

    with transaction.atomic():
        started = time.monotonic()
        record_event(event_type="appointment.booked", appointment=appointment)
        recording_took = time.monotonic() - started
    event = OutboxEvent.objects.get()

    assert recording_took < 0.5, "recording never waits for the hub"
    assert event.status == OutboxStatus.PENDING
    assert event.attempts == 1
    assert event.next_attempt_at > timezone.now()
    assert event.last_status_code == (503 if trouble == "503" else None)
    assert event.last_error

    # The hub is back: the next sweep delivers the same event.
    settings.NOTIFICATION_HUB_URL = hub.url
    summary = sweep_outbox(later())

    event.refresh_from_db()
    assert (summary.sent, summary.retrying, summary.failed) == (1, 0, 0)
    assert event.status == OutboxStatus.SENT
    assert event.attempts == 2
    expected_id = f"appointment.booked:{appointment.pk}:1"
    assert set(hub.event_ids()) == {expected_id}
    assert len(hub.received) == (1 if trouble == "refused" else 2)


def test_a_sweep_before_the_backoff_has_run_out_does_not_retry(appointment, hub, hub_settings, sync_tasks):
    hub.reply(Reply(503))
    book(appointment)

    summary = sweep_outbox(timezone.now())

    assert (summary.sent, summary.retrying) == (0, 0)
    assert len(hub.received) == 1


@pytest.mark.parametrize("status", [400, 401])
def test_a_refusal_is_final_and_not_retried(status, appointment, hub, hub_settings, sync_tasks):
    hub.reply(Reply(status))

    event = book(appointment)
    sweep_outbox(later())

    assert event.status == OutboxStatus.FAILED
    assert (event.attempts, event.last_status_code) == (1, status)
    assert len(hub.received) == 1


@pytest.mark.parametrize("status", [301, 403, 404, 405, 409, 410, 413, 422])
def test_other_answers_are_retried_like_a_5xx(status, appointment, hub, hub_settings, sync_tasks):
    """Only 400 and 401 are final (notifications.md): a mistyped path's 404 or a proxy's
    403 may be set right while the event waits, so it must not drop the event."""
    hub.reply(Reply(status))

    event = book(appointment)

    assert (event.status, event.attempts, event.last_status_code) == (OutboxStatus.PENDING, 1, status)

    sweep_outbox(later())
    event.refresh_from_db()

    assert (event.status, event.attempts, event.last_status_code) == (OutboxStatus.SENT, 2, 200)
    assert hub.event_ids() == [event.event_id] * 2


def delivery_schedules() -> list[Schedule]:
    return list(Schedule.objects.filter(func="notifications.delivery.deliver_event"))


def test_a_short_backoff_is_retried_after_seconds_not_at_the_next_sweep(
    appointment, hub, hub_settings, sync_tasks, monkeypatch
):
    monkeypatch.setattr(delivery, "BACKOFF_BASE_SECONDS", 0.4)
    hub.reply(Reply(503))

    event = book(appointment)

    assert (event.status, event.attempts) == (OutboxStatus.PENDING, 1)
    [retry] = delivery_schedules()
    assert (retry.schedule_type, retry.next_run) == (Schedule.ONCE, event.next_attempt_at)
    assert ast.literal_eval(retry.args) == (event.pk,)

    scheduler(broker=get_broker())  # the cluster's scheduler, before the retry is due
    assert len(hub.received) == 1

    time.sleep(max(0.0, (event.next_attempt_at - timezone.now()).total_seconds()) + 0.05)
    scheduler(broker=get_broker())  # ... and once it is due

    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxStatus.SENT, 2)
    assert hub.event_ids() == [event.event_id] * 2
    assert delivery_schedules() == [], "a one-off schedule is deleted once it has run"


def test_a_long_backoff_is_left_to_the_sweep(appointment, hub, hub_settings, sync_tasks):
    hub.reply(Reply(429, headers={"Retry-After": "120"}), Reply(503))

    event = book(appointment)

    assert event.status == OutboxStatus.PENDING
    assert delivery_schedules() == []


def test_429_honours_retry_after(appointment, hub, hub_settings, sync_tasks):
    hub.reply(Reply(429, headers={"Retry-After": "120"}))

    before = timezone.now()
    event = book(appointment)

    assert event.status == OutboxStatus.PENDING
    assert event.last_status_code == 429
    wait = (event.next_attempt_at - before).total_seconds()
    assert 119 <= wait <= 125


def test_retries_reuse_the_event_id_until_the_attempts_run_out(
    appointment, hub, hub_settings, sync_tasks, monkeypatch
):
    monkeypatch.setattr(delivery, "MAX_ATTEMPTS", 3)
    hub.reply(*[Reply(503)] * 5)

    event = book(appointment)
    for hours in (1, 2, 3):
        sweep_outbox(later(hours))
    event.refresh_from_db()

    assert event.status == OutboxStatus.FAILED
    assert event.attempts == 3
    assert hub.event_ids() == [f"appointment.booked:{appointment.pk}:1"] * 3


def test_order_per_appointment_is_kept(appointment, hub, hub_settings, sync_tasks):
    hub.reply(Reply(503))
    first = book(appointment, "appointment.booked")
    second = book(appointment, "appointment.confirmed")

    # The confirmation's own delivery task ran, but waited for the booking.
    assert hub.event_ids() == [first.event_id]
    second.refresh_from_db()
    assert (second.status, second.attempts) == (OutboxStatus.PENDING, 0)

    sweep_outbox(later())

    assert hub.event_ids() == [first.event_id, first.event_id, second.event_id]
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


def test_a_final_failure_holds_back_later_events(appointment, hub, hub_settings, sync_tasks):
    """Until it is retried from the admin (test_delivery_order.py): a later event must not
    overtake it."""
    hub.reply(Reply(400))
    first = book(appointment, "appointment.booked")
    second = book(appointment, "appointment.confirmed")

    assert first.status == OutboxStatus.FAILED
    assert second.status == OutboxStatus.PENDING
    assert hub.event_ids() == [first.event_id]


def test_two_workers_never_send_the_same_event(
    appointment, hub, hub_settings, django_capture_on_commit_callbacks
):
    with transaction.atomic():
        event = record_event(event_type="appointment.booked", appointment=appointment)
    # The hub answers slowly, so both workers are inside delivery at the same time.
    hub.reply(Reply(200, hang_seconds=0.5))
    results: list[str] = []

    def worker() -> None:
        try:
            results.append(deliver_event(event.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(hub.received) == 1
    assert sorted(results) == ["busy", "sent"] or sorted(results) == ["nothing pending", "sent"]
    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxStatus.SENT, 1)


def test_the_sweep_picks_up_an_event_whose_delivery_task_was_lost(
    appointment, hub, hub_settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        event = record_event(event_type="appointment.booked", appointment=appointment)
    assert hub.received == []

    summary = sweep_outbox(timezone.now())

    assert str(summary) == "sent 1, retrying 0, failed 0"
    assert hub.event_ids() == [event.event_id]


def test_the_sweep_stops_at_the_first_retry_while_the_hub_is_down(clinic, hub, hub_settings):
    from scheduling.tests.factories import AppointmentFactory

    appointments = [
        AppointmentFactory(clinic=clinic, start=dt.datetime(2027, 3, 8, 8 + n, tzinfo=dt.UTC))
        for n in range(3)
    ]
    with transaction.atomic():
        for appointment in appointments:
            record_event(event_type="appointment.booked", appointment=appointment)
    hub.reply(Reply(503))

    summary = sweep_outbox(timezone.now())

    assert (summary.sent, summary.retrying) == (0, 1)
    assert len(hub.received) == 1


def test_retry_failed_puts_events_back_and_delivers_them(appointment, hub, hub_settings, sync_tasks):
    hub.reply(Reply(400))
    event = book(appointment)
    assert event.status == OutboxStatus.FAILED

    assert retry_failed(OutboxEvent.objects.all()) == 1

    event.refresh_from_db()
    assert event.status == OutboxStatus.SENT
    assert event.attempts == 1
    assert hub.event_ids() == [event.event_id, event.event_id]


def test_retry_failed_leaves_other_events_alone(appointment, hub, hub_settings, sync_tasks):
    event = book(appointment)

    assert retry_failed(OutboxEvent.objects.all()) == 0
    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxStatus.SENT, 1)


def test_a_pending_event_is_skipped_once_the_hub_is_unset(appointment, hub, hub_settings, settings):
    with transaction.atomic():
        event = record_event(event_type="appointment.booked", appointment=appointment)
    settings.NOTIFICATION_HUB_URL = ""

    deliver_event(event.pk)

    event.refresh_from_db()
    assert event.status == OutboxStatus.SKIPPED
    assert hub.received == []

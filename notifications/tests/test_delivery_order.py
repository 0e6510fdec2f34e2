"""Outbox delivery (issue 10): the hub is called with no transaction open and no row
locked; per-appointment order holds even across a failure, until the failed event is
retried from the admin, which sends it and the ones behind it in order; concurrent
delivery runs never send an event twice. A real local HTTP hub, real PostgreSQL, real
threads."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from notifications import delivery
from notifications.delivery import deliver_event, retry_failed, sweep_outbox
from notifications.models import OutboxEvent, OutboxStatus
from notifications.outbox import record_event
from notifications.tests.hub import FakeHub, Received, Reply
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def later(hours: float = 1) -> dt.datetime:
    return timezone.now() + dt.timedelta(hours=hours)


def record(appointment, event_type: str) -> OutboxEvent:
    with transaction.atomic():
        event = record_event(event_type=event_type, appointment=appointment)
    event.refresh_from_db()
    return event


class InspectingHub(FakeHub):
    """A hub that, while it handles a request (before answering), looks at the event's row
    from a connection of its own."""

    def __init__(self, inspect) -> None:
        super().__init__()
        self.inspect = inspect
        self.seen: list[Any] = []

    def _next_reply(self, received: Received) -> Reply:
        try:
            self.seen.append(self.inspect(received))
        finally:
            connection.close()  # this handler thread's own connection
        return super()._next_reply(received)


def test_the_hub_is_called_with_no_transaction_open_and_the_row_unlocked(appointment, settings):
    deliverer_pid = None

    def inspect(received: Received) -> dict[str, Any]:
        event_id = received.body["event_id"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [deliverer_pid])
            (state,) = cursor.fetchone()
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT status, claimed_until FROM notifications_outboxevent"
                    " WHERE event_id = %s FOR UPDATE NOWAIT",
                    [event_id],
                )
                status, claimed_until = cursor.fetchone()
            locked = False
        except OperationalError:  # lock_not_available
            locked, status, claimed_until = True, None, None
        return {"deliverer": state, "locked": locked, "status": status, "claimed": claimed_until is not None}

    hub = InspectingHub(inspect).start()
    try:
        settings.NOTIFICATION_HUB_URL = hub.url
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (deliverer_pid,) = cursor.fetchone()
        event = record(appointment, "appointment.booked")  # its task has not run: no sync tasks
        record(appointment, "appointment.confirmed")

        assert deliver_event(event.pk) == "sent, sent"
    finally:
        hub.stop()

    assert (
        hub.seen
        == [{"deliverer": "idle", "locked": False, "status": OutboxStatus.PENDING, "claimed": True}] * 2
    ), "while the hub works, the deliverer has no transaction open and the row is free"
    assert set(OutboxEvent.objects.values_list("status", "claimed_until")) == {(OutboxStatus.SENT, None)}


def three_events(appointment) -> list[OutboxEvent]:
    return [
        record(appointment, kind)
        for kind in ("appointment.booked", "appointment.confirmed", "appointment.cancelled")
    ]


@pytest.mark.parametrize("failure", ["refused", "attempts ran out"])
def test_a_failed_event_holds_back_the_later_ones_until_retried_then_all_go_in_order(
    failure, appointment, hub, hub_settings, sync_tasks, monkeypatch
):
    if failure == "refused":
        hub.reply(Reply(400))
    else:
        monkeypatch.setattr(delivery, "MAX_ATTEMPTS", 2)
        hub.reply(Reply(503), Reply(503))
    booked, confirmed, cancelled = three_events(appointment)
    sweep_outbox(later(1))
    sweep_outbox(later(2))

    booked.refresh_from_db()
    assert booked.status == OutboxStatus.FAILED
    assert set(hub.event_ids()) == {booked.event_id}, "nothing after the failed event went out"
    assert deliver_event(confirmed.pk) == "blocked"
    assert OutboxEvent.objects.get(pk=cancelled.pk).status == OutboxStatus.PENDING

    assert retry_failed(OutboxEvent.objects.filter(pk=booked.pk)) == 1

    after_retry = hub.event_ids()[len(hub.event_ids()) - 3 :]
    assert after_retry == [booked.event_id, confirmed.event_id, cancelled.event_id]
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


def test_retrying_a_later_failed_event_retries_the_earlier_one_first(
    appointment, hub, hub_settings, sync_tasks
):
    booked, confirmed, cancelled = three_events(appointment)
    # Two failed events of one appointment, left by a delivery that did not keep order.
    OutboxEvent.objects.filter(pk__in=[booked.pk, confirmed.pk]).update(status=OutboxStatus.FAILED)
    OutboxEvent.objects.filter(pk=cancelled.pk).update(status=OutboxStatus.PENDING)
    hub.received.clear()

    assert retry_failed(OutboxEvent.objects.filter(pk=confirmed.pk)) == 2

    assert hub.event_ids() == [booked.event_id, confirmed.event_id, cancelled.event_id]


def test_the_admin_action_retries_in_order(admin_client, appointment, hub, hub_settings, sync_tasks):
    hub.reply(Reply(400))
    booked, confirmed, cancelled = three_events(appointment)
    assert hub.event_ids() == [booked.event_id]
    listing = admin_client.get(reverse("admin:notifications_outboxevent_changelist"))
    assert {e.event_id: e.is_held_back for e in listing.context["cl"].result_list} == {
        booked.event_id: False,
        confirmed.event_id: True,
        cancelled.event_id: True,
    }

    response = admin_client.post(
        reverse("admin:notifications_outboxevent_changelist"),
        {"action": "retry_selected", "_selected_action": [booked.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 failed event(s) queued for delivery again" in response.content.decode()
    assert hub.event_ids() == [booked.event_id, booked.event_id, confirmed.event_id, cancelled.event_id]


def test_an_event_in_a_live_worker_s_hands_is_left_alone_and_taken_over_once_its_claim_ran_out(
    appointment, hub, hub_settings
):
    booked = record(appointment, "appointment.booked")  # its task has not run: no sync tasks
    confirmed = record(appointment, "appointment.confirmed")
    OutboxEvent.objects.filter(pk=booked.pk).update(claimed_until=timezone.now() + dt.timedelta(seconds=30))

    assert deliver_event(confirmed.pk) == "busy"
    assert str(sweep_outbox(later())) == "sent 0, retrying 0, failed 0"
    assert hub.received == []

    # The worker died: its claim runs out, and the event goes out (the same event_id).
    OutboxEvent.objects.filter(pk=booked.pk).update(claimed_until=timezone.now() - dt.timedelta(seconds=1))
    assert str(sweep_outbox(timezone.now())) == "sent 2, retrying 0, failed 0"
    assert hub.event_ids() == [booked.event_id, confirmed.event_id]


def test_an_answer_that_comes_after_the_claim_ran_out_is_dropped(appointment, settings):
    """The attempt outlived its claim and another worker took the event over: only that
    worker's outcome is stored."""

    def take_over(received: Received) -> None:
        OutboxEvent.objects.filter(event_id=received.body["event_id"]).update(
            claimed_until=timezone.now() + dt.timedelta(seconds=30), attempts=5
        )

    hub = InspectingHub(take_over).start()
    try:
        settings.NOTIFICATION_HUB_URL = hub.url
        booked = record(appointment, "appointment.booked")

        assert deliver_event(booked.pk) == "busy"
    finally:
        hub.stop()
    booked.refresh_from_db()
    assert (booked.status, booked.attempts) == (OutboxStatus.PENDING, 5)
    assert booked.claimed_until is not None


def test_concurrent_delivery_runs_never_send_an_event_twice_and_keep_each_appointment_s_order(
    clinic, hub, hub_settings
):
    appointments = [
        AppointmentFactory(clinic=clinic, start=dt.datetime(2027, 3, 8, 8 + n, tzinfo=dt.UTC))
        for n in range(4)
    ]
    kinds = ("appointment.booked", "appointment.confirmed", "appointment.checked_in")
    expected = {}
    for appointment in appointments:
        expected[appointment.pk] = [record(appointment, kind).event_id for kind in kinds]
    # A slow hub keeps every run inside delivery at the same time as the others.
    hub.reply(*[Reply(200, hang_seconds=0.05)] * 12)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            if n % 2:
                sweep_outbox(timezone.now())
            else:
                for appointment in appointments:
                    deliver_event(OutboxEvent.objects.filter(appointment=appointment).first().pk)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    sent = hub.event_ids()
    assert len(sent) == len(set(sent)) == 12, sent
    for appointment_id, event_ids in expected.items():
        assert [e for e in sent if e.split(":")[1] == str(appointment_id)] == event_ids
    assert set(OutboxEvent.objects.values_list("status", "attempts")) == {(OutboxStatus.SENT, 1)}

"""The outbox admin, the retry action, and the commands that run the jobs by hand."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django_q.models import Schedule

from notifications.models import OutboxEvent, OutboxStatus
from notifications.outbox import record_event
from notifications.tests.hub import Reply


@pytest.mark.django_db
def test_changelist_and_detail_pages_open(admin_client, appointment, no_hub):
    event = record_event(event_type="appointment.booked", appointment=appointment)

    changelist = admin_client.get(
        reverse("admin:notifications_outboxevent_changelist"), {"status": "skipped"}
    )
    detail = admin_client.get(reverse("admin:notifications_outboxevent_change", args=[event.pk]))
    search = admin_client.get(reverse("admin:notifications_outboxevent_changelist"), {"q": event.event_id})

    assert changelist.status_code == detail.status_code == search.status_code == 200
    assert event.event_id in changelist.text
    assert event.event_id in search.text
    assert admin_client.get(reverse("admin:notifications_outboxevent_add")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_retry_action_requeues_failed_events(admin_client, appointment, hub, hub_settings, sync_tasks):
    hub.reply(Reply(400))
    with transaction.atomic():
        event = record_event(event_type="appointment.booked", appointment=appointment)
    event.refresh_from_db()
    assert event.status == OutboxStatus.FAILED

    response = admin_client.post(
        reverse("admin:notifications_outboxevent_changelist"),
        {"action": "retry_selected", "_selected_action": [event.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 failed event(s) queued for delivery again." in response.text
    event.refresh_from_db()
    assert event.status == OutboxStatus.SENT
    assert hub.event_ids() == [event.event_id, event.event_id]


@pytest.mark.django_db(transaction=True)
def test_deliver_outbox_prints_a_summary(appointment, hub, hub_settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        record_event(event_type="appointment.booked", appointment=appointment)
    out = StringIO()

    call_command("deliver_outbox", stdout=out)

    assert out.getvalue().strip() == "sent 1, retrying 0, failed 0"
    assert OutboxEvent.objects.get().status == OutboxStatus.SENT


@pytest.mark.django_db
def test_setup_schedules_is_idempotent():
    first, second = StringIO(), StringIO()
    Schedule.objects.all().delete()  # migrate created them; the command repairs

    call_command("setup_schedules", stdout=first)
    Schedule.objects.filter(name="Deliver outbox events").update(minutes=5)
    call_command("setup_schedules", stdout=second)

    assert first.getvalue().count("created: ") == 5
    assert "updated: Deliver outbox events" in second.getvalue()
    assert second.getvalue().count("unchanged: ") == 4
    schedules = {s.func: s for s in Schedule.objects.all()}
    assert set(schedules) == {
        "scheduling.jobs.mark_no_shows_job",
        "scheduling.jobs.compute_stats_job",
        "scheduling.jobs.purge_idempotency_records_job",
        "notifications.delivery.sweep_outbox_job",
        "offers.tasks.next_rounds_job",
    }
    assert schedules["scheduling.jobs.mark_no_shows_job"].schedule_type == Schedule.HOURLY
    assert schedules["scheduling.jobs.compute_stats_job"].schedule_type == Schedule.HOURLY
    assert schedules["scheduling.jobs.purge_idempotency_records_job"].schedule_type == Schedule.HOURLY
    sweep = schedules["notifications.delivery.sweep_outbox_job"]
    assert (sweep.schedule_type, sweep.minutes, sweep.repeats) == (Schedule.MINUTES, 1, -1)


@pytest.mark.django_db
def test_scheduled_functions_exist():
    from django.utils.module_loading import import_string

    call_command("setup_schedules", stdout=StringIO())

    for schedule in Schedule.objects.all():
        assert callable(import_string(schedule.func))

"""A booking never waits on the notification hub, and its event is never lost.

End to end: a real HTTP server (the live server) takes the booking while a real HTTP
server standing in for the hub refuses, fails or hangs; delivery happens later, from the
outbox, once the hub is back.
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from django.utils import timezone

from clinic.models import ApiToken
from notifications import delivery
from notifications.delivery import sweep_outbox
from notifications.models import OutboxEvent, OutboxStatus
from notifications.tests.conftest import API_KEY
from notifications.tests.hub import FakeHub, Reply, closed_port_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hub():
    server = FakeHub().start()
    yield server
    server.stop()


@pytest.mark.parametrize("trouble", ["refused", "503", "hang"])
def test_booking_succeeds_while_the_hub_is_in_trouble_and_the_event_arrives_later(
    trouble, live_server, small_clinic, desk, hub, settings, monkeypatch
):
    monkeypatch.setattr(delivery, "HUB_TIMEOUT_SECONDS", 0.5)  # a hang costs half a second
    settings.NOTIFICATION_HUB_API_KEY = API_KEY
    settings.NOTIFICATION_HUB_URL = closed_port_url() if trouble == "refused" else hub.url
    if trouble == "503":
        hub.reply(Reply(503))
    elif trouble == "hang":
        hub.reply(Reply(200, hang_seconds=3))
    token = ApiToken.issue(desk)[1]
    start = dt.datetime.combine(small_clinic["day"], dt.time(9), tzinfo=small_clinic["clinic"].tz)
    body = {
        "patient": "p-1",
        "appointment_type": "consult",
        "provider": "dr-a",
        "room": "r1",
        "start": start.isoformat(),
    }

    response = requests.post(
        f"{live_server.url}/api/v1/appointments",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    assert response.status_code == 201, response.text
    appointment_id = response.json()["id"]
    event = OutboxEvent.objects.get(appointment_id=appointment_id, event_type="appointment.booked")
    assert event.status == OutboxStatus.PENDING

    assert hub.received == [], "the booking itself never contacts the hub"

    # The sweep (every minute under the cluster) tries while the hub is still in trouble...
    sweep_outbox(timezone.now() + dt.timedelta(hours=1))
    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxStatus.PENDING, 1)

    # ...and delivers the same event once the hub is back.
    settings.NOTIFICATION_HUB_URL = hub.url
    sweep_outbox(timezone.now() + dt.timedelta(hours=2))
    event.refresh_from_db()
    assert event.status == OutboxStatus.SENT
    event_id = f"appointment.booked:{appointment_id}:1"
    delivered = hub.received[-1]
    assert delivered.body["event_id"] == event_id
    assert delivered.headers.get("X-API-Key") == API_KEY
    assert delivered.body["event_type"] == "appointment.booked"
    assert delivered.body["payload"]["appointment"]["id"] == appointment_id
    assert delivered.body["payload"]["patient"]["code"] == "p-1"
    assert set(hub.event_ids()) == {event_id}, "every attempt reuses the event_id"

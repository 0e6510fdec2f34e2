"""The worker cluster stopped while the clinic works: bookings, confirmations,
cancellations and reschedules go on with the hub up and no django-q2 cluster running. Their
events wait in the outbox, their delivery tasks in the broker. Then a real ``qcluster``
starts and every event reaches a real local hub exactly once, in order per appointment.

Time is compressed: the outage lasts seconds, not ten minutes, but what piles up is the
same (pending rows, queued tasks), and some queued tasks are lost on the way (a Redis
restart, a crash between commit and enqueue), so only the sweep can deliver those events.
The sweep runs as the cluster runs it: its schedule (created on ``migrate``) falls due, and
django-q2's scheduler enqueues it for the cluster's workers, once the queue is drained
(the cluster itself looks at its schedules only every 30 s).
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule
from django_q.scheduler import scheduler

from notifications.management.commands.setup_schedules import JOBS, ensure_schedules
from notifications.models import OutboxEvent, OutboxStatus
from notifications.tests.hub import FakeHub
from scheduling.tests.faults.servers import ROOT, child_env, stop_process

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]

API_KEY = "fault-hub-key"
SWEEP = next(job for job in JOBS if job.func == "notifications.delivery.sweep_outbox_job")
DELIVERY_SECONDS = 60.0
MORNING = ("08:00", "08:30", "09:00", "09:30", "10:00")  # two providers' bookings side by side


@pytest.fixture
def hub(settings) -> Iterator[FakeHub]:
    server = FakeHub().start()
    settings.NOTIFICATION_HUB_URL = server.url
    settings.NOTIFICATION_HUB_API_KEY = API_KEY
    yield server
    server.stop()


@pytest.fixture
def start_cluster(hub, settings, monkeypatch, tmp_path) -> Iterator:
    # Tasks are signed with SECRET_KEY, which django-q2 reads once, into Conf: the cluster
    # must share this process's key, as every process of a deployment does, and a key good
    # with DEBUG off.
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    monkeypatch.setattr(Conf, "SECRET_KEY", settings.SECRET_KEY)
    processes: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        env = child_env(
            SECRET_KEY=settings.SECRET_KEY,
            NOTIFICATION_HUB_URL=hub.url,
            NOTIFICATION_HUB_API_KEY=API_KEY,
            Q_WORKERS="2",
        )
        with (tmp_path / "qcluster.log").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=log
            )
        processes.append(process)
        return process

    yield start
    for process in processes:
        stop_process(process)


def wait_for(condition, what: str, seconds: float = DELIVERY_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            unsent = OutboxEvent.objects.exclude(status=OutboxStatus.SENT).values_list(
                "event_id", "status", "attempts", "last_error", "claimed_until", "next_attempt_at"
            )
            raise AssertionError(f"{what}: not within {seconds} s; unsent: {list(unsent)[:10]}")
        time.sleep(0.1)


class Desk:
    """A front desk working through the API (in this process: no cluster involved)."""

    def __init__(self, call, small_clinic) -> None:
        self.call = call
        self.clinic = small_clinic

    def at(self, clock: str, days: int = 0) -> str:
        day = self.clinic["day"] + dt.timedelta(days=days)
        return dt.datetime.combine(
            day, dt.time.fromisoformat(clock), tzinfo=self.clinic["clinic"].tz
        ).isoformat()

    def post(self, path: str, body: dict | None = None, expect: int = 200) -> dict:
        response = self.call("POST", f"/api/v1/{path}", body if body is not None else {})
        assert response.status_code == expect, response.content
        return response.json()

    def book(self, patient: int, provider: str, room: str, clock: str, days: int = 0) -> int:
        body = {
            "patient": f"p-{patient}",
            "appointment_type": "consult",
            "provider": provider,
            "room": room,
            "start": self.at(clock, days),
        }
        return self.post("appointments", body, expect=201)["id"]

    def a_working_morning(self, days: int) -> None:
        """Ten bookings, and what a morning does to them: confirmations, cancellations (one
        with a waitlisted patient for the freed time), reschedules, one moved twice."""
        self.post(
            "waitlist",
            {
                "patient": "p-20",
                "appointment_type": "consult",
                "earliest": self.clinic["day"].isoformat(),
                "latest": (self.clinic["day"] + dt.timedelta(days=7)).isoformat(),
            },
            expect=201,
        )
        ids = [
            self.book(1 + i, "dr-a" if i % 2 else "dr-b", "r1" if i % 2 else "r2", MORNING[i // 2], days)
            for i in range(10)
        ]
        for pk in ids[:4]:
            self.post(f"appointments/{pk}/confirm")
        self.post(f"appointments/{ids[2]}/cancel", {"reason": "patient called"})
        self.post(f"appointments/{ids[5]}/cancel", {"reason": "sick"})
        moved = self.post(f"appointments/{ids[1]}/reschedule", {"start": self.at("14:00", days)})
        self.post(f"appointments/{moved['appointment']['id']}/reschedule", {"start": self.at("15:00", days)})
        self.post(f"appointments/{ids[6]}/reschedule", {"start": self.at("16:00", days), "room": "r3"})
        self.post(f"appointments/{ids[7]}/confirm")


def test_events_wait_while_the_cluster_is_stopped_and_then_arrive_once_in_order(
    hub, start_cluster, call, small_clinic
):
    desk = Desk(call, small_clinic)
    ensure_schedules()

    # The cluster is down; the clinic keeps working.
    desk.a_working_morning(days=0)
    desk.a_working_morning(days=1)
    waiting = OutboxEvent.objects.count()
    assert waiting >= 40
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {OutboxStatus.PENDING}
    assert hub.received == []
    queued = list(OrmQ.objects.values_list("pk", flat=True))
    assert len(queued) == waiting  # one delivery task per event, waiting in the broker
    # Some tasks never make it to a worker (lost with a broker restart, say).
    lost = random.Random(10).sample(queued, len(queued) // 3)
    OrmQ.objects.filter(pk__in=lost).delete()

    cluster = start_cluster()
    wait_for(lambda: not OrmQ.objects.exists(), "the cluster works off the queued tasks")
    # A task delivers its appointment's every pending event, in order; an appointment whose
    # tasks were all lost waits for the sweep.
    for_the_sweep = set(OutboxEvent.objects.exclude(status=OutboxStatus.SENT).values_list("pk", flat=True))
    assert for_the_sweep and len(hub.received) > waiting // 2, (len(for_the_sweep), len(hub.received))
    # The clinic goes on meanwhile: these are delivered by their own tasks.
    desk.a_working_morning(days=2)
    # The minute is up: django-q2's scheduler finds the sweep due and enqueues it.
    Schedule.objects.filter(name=SWEEP.name).update(next_run=timezone.now() - dt.timedelta(seconds=1))
    scheduler(broker=get_broker())
    wait_for(
        lambda: not OutboxEvent.objects.exclude(status=OutboxStatus.SENT).exists(),
        "every event sent",
    )
    assert cluster.poll() is None, "the cluster stayed up"
    time.sleep(1)  # a duplicate send would arrive now

    events = {e.event_id: e for e in OutboxEvent.objects.all()}
    assert len(events) > waiting
    received = [r.body["event_id"] for r in hub.received]
    duplicates = [i for i, n in collections.Counter(received).items() if n > 1]
    assert not duplicates, duplicates
    assert set(received) == set(events)
    assert all(r.headers["X-API-Key"] == API_KEY for r in hub.received)
    for r in hub.received:
        event = events[r.body["event_id"]]
        assert r.body == {
            "event_type": event.event_type,
            "event_id": event.event_id,
            "payload": event.payload,
        }
    # In order per appointment: each appointment's events arrived in their sequence.
    arrived: dict[int, list[int]] = collections.defaultdict(list)
    for event_id in received:
        arrived[events[event_id].appointment_id].append(events[event_id].sequence)
    assert all(sequence == list(range(1, len(sequence) + 1)) for sequence in arrived.values()), arrived
    kinds = collections.Counter(event.event_type for event in events.values())
    assert {"appointment.booked", "appointment.confirmed", "appointment.cancelled"} <= set(kinds), kinds
    assert "appointment.rescheduled" in kinds and "waitlist.slot_available" in kinds, kinds

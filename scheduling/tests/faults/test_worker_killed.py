"""Web workers killed under load: 8 clients book offered slots against gunicorn with 4
workers while a worker is SIGKILLed every few seconds.

A killed worker drops the request it was serving: its client sees the connection close
with no answer, and cannot know whether the booking was made. Every booking carries an
``Idempotency-Key`` and a dropped one is sent again with the same key, so the client ends
up holding the booking's one answer (a replayed ``201`` when the dropped attempt had
committed). Afterwards SQL must find every ``201`` stored, every stored booking answered
with a ``201`` that a client holds, nothing stored twice, and no overlap.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import http.client
import json
import os
import random
import signal
import threading
import time
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from clinic.models import ApiToken
from notifications.models import OutboxEvent
from scheduling import selectors
from scheduling.models import Appointment, AppointmentHistory, IdempotencyRecord
from scheduling.tests.faults.servers import gunicorn
from scheduling.tests.test_concurrency import OVERLAP_SQL

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


CLIENTS = 8
WORKERS = 4
SECONDS = 16.0
KILL_EVERY_SECONDS = 3.0
ATTEMPTS = 3  # the first send and two retries with the same key
WEEKS = 45  # enough offered slots that the clients never run out


# What may not overlap among active appointments: (the same owner, the range's columns).
OVERLAPS = {
    "provider": ("a.provider_id = b.provider_id AND a.seat = b.seat", "blocked_start", "blocked_end"),
    "room": ("a.room_id = b.room_id AND a.seat = b.seat", "blocked_start", "blocked_end"),
    "patient": ("a.patient_id = b.patient_id", "start", '"end"'),
}


def overlaps() -> dict[str, int]:
    """Pairs of active appointments that overlap, per owner, counted in SQL."""
    found = {}
    with connection.cursor() as cursor:
        for owner, (same, start, end) in OVERLAPS.items():
            cursor.execute(OVERLAP_SQL.format(same=same, s=start, e=end))
            found[owner] = cursor.fetchone()[0]
    return found


@dataclasses.dataclass
class Outcome:
    body: dict
    key: str
    status: int | None = None  # None: no attempt was answered
    answer: dict | None = None
    attempts: int = 0
    replayed: bool = False


def offered_plan(small_clinic, rng: random.Random) -> list[dict]:
    """Offered regular-seat slots a clinic could fill (no two share a provider's or a
    room's blocked time), shuffled, with one in ten sent a second time (those must be 409)."""
    clinic = small_clinic["clinic"]
    first = small_clinic["day"]
    offered = []
    for kind in (small_clinic["consult"], small_clinic["ecg"]):
        for week in range(WEEKS):
            monday = first + dt.timedelta(weeks=week)
            result = selectors.search_slots(
                clinic=clinic,
                appointment_type_code=kind.code,
                date_from=monday,
                date_to=monday + dt.timedelta(days=4),
                now=timezone.now(),
                include_overbooking=False,
            )
            offered += [(slot, kind) for slot in result.slots]
    held: dict[str, list[tuple[dt.datetime, dt.datetime]]] = collections.defaultdict(list)
    plan = []
    for slot, kind in sorted(offered, key=lambda pair: pair[0].start):
        blocked = (
            slot.start - dt.timedelta(minutes=kind.buffer_before_minutes),
            slot.end + dt.timedelta(minutes=kind.buffer_after_minutes),
        )
        owners = (f"provider:{slot.provider}", f"room:{slot.room}")
        if any(b[0] < blocked[1] and blocked[0] < b[1] for owner in owners for b in held[owner][-4:]):
            continue
        for owner in owners:
            held[owner].append(blocked)
        plan.append(
            {
                "appointment_type": kind.code,
                "provider": slot.provider,
                "room": slot.room,
                "start": slot.start.isoformat(),
                "patient": rng.choice(small_clinic["patients"]).code,
            }
        )
    plan += rng.sample(plan, len(plan) // 10)
    rng.shuffle(plan)
    return plan


def send(port: int, headers: dict[str, str], outcome: Outcome) -> bool:
    """One attempt; False when the connection dropped without an answer."""
    outcome.attempts += 1
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/api/v1/appointments",
            json.dumps(outcome.body),
            {**headers, "Idempotency-Key": outcome.key},
        )
        response = connection.getresponse()
        outcome.status, outcome.answer = response.status, json.loads(response.read())
        outcome.replayed = response.getheader("Idempotent-Replayed") == "true"
        return True
    except (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead):
        return False
    finally:
        connection.close()


def test_killed_web_workers_lose_no_booking_and_book_nothing_twice(small_clinic, desk, tmp_path):
    rng = random.Random(2027)
    plan = offered_plan(small_clinic, rng)
    headers = {"Authorization": f"Bearer {ApiToken.issue(desk)[1]}", "Content-Type": "application/json"}
    work = collections.deque(plan)
    outcomes: list[Outcome] = []
    dropped: list[str] = []  # keys of attempts that got no answer
    kills: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    with gunicorn(tmp_path, workers=WORKERS) as server:

        def client() -> None:
            while not stop.is_set():
                try:
                    outcome = Outcome(body=work.popleft(), key=str(uuid.uuid4()))
                except IndexError:
                    return
                while outcome.attempts < ATTEMPTS and not send(server.port, headers, outcome):
                    with lock:
                        dropped.append(outcome.key)
                with lock:
                    outcomes.append(outcome)

        def killer() -> None:
            killing = random.Random(7)
            while not stop.wait(KILL_EVERY_SECONDS):
                alive = server.workers()
                if alive:
                    victim = killing.choice(alive)
                    os.kill(victim, signal.SIGKILL)
                    kills.append(victim)

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        threads.append(threading.Thread(target=killer))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        stop.wait(SECONDS)
        stop.set()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)
        elapsed = time.monotonic() - started
        log = server.log()

    statuses = collections.Counter(o.status for o in outcomes)
    summary = (
        f"{len(outcomes)} bookings sent in {elapsed:.1f} s, {len(plan) - len(work)} of {len(plan)} planned;"
        f" statuses {dict(statuses)}; {len(kills)} workers killed; {len(dropped)} attempts dropped;"
        f" {sum(o.replayed for o in outcomes)} replayed after a drop"
    )
    print(summary)
    assert work, "the plan ran out: the load was not sustained for the whole run"
    assert len(kills) >= 4, summary
    # The master saw each of them die (and started another in its place).
    assert all(f"(pid:{victim}) was sent SIGKILL" in log for victim in kills), summary
    # Every request ended with an answer (a retry with the same key settled each drop) and
    # the answers are the contract's: a booking, or a refusal because the time was taken.
    assert set(statuses) <= {201, 409}, summary
    assert {o.answer["error"]["code"] for o in outcomes if o.status == 409} == {"slot_taken"}
    # A killed worker drops only the request it was serving (and a busy one did drop some).
    assert 1 <= len(dropped) <= len(kills), summary
    assert all(o.status is not None for o in outcomes), summary

    booked = {o.key: o.answer["id"] for o in outcomes if o.status == 201}
    held = set(booked.values())
    assert len(held) == len(booked), "two keys answered with one booking"
    stored = set(Appointment.objects.values_list("pk", flat=True))
    assert held == stored, (sorted(held - stored)[:5], sorted(stored - held)[:5])
    # Each stored answer is the one its client holds, under its key.
    records = {r.key: r for r in IdempotencyRecord.objects.filter(status_code=201)}
    assert {key: r.body["id"] for key, r in records.items()} == booked
    # Nothing half-written: each booking has its history and its event, once.
    assert AppointmentHistory.objects.filter(action="booked").count() == len(stored)
    assert set(AppointmentHistory.objects.values_list("appointment_id", flat=True)) == stored
    assert OutboxEvent.objects.count() == len(stored)
    assert set(OutboxEvent.objects.values_list("appointment_id", flat=True)) == stored
    assert overlaps() == dict.fromkeys(OVERLAPS, 0)

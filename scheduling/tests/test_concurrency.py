"""No double booking under concurrency: real threads, a real HTTP server, real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from clinic.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(live_server, small_clinic, desk):
    token = ApiToken.issue(desk)[1]
    session_headers = {"Authorization": f"Bearer {token}"}
    # Warm the server (imports, URL resolution) so the timed requests measure booking.
    requests.get(
        f"{live_server.url}/api/v1/providers", headers=session_headers, timeout=10
    ).raise_for_status()
    return live_server.url, session_headers, small_clinic


def at(small_clinic, clock: str) -> str:
    return dt.datetime.combine(
        small_clinic["day"], dt.time.fromisoformat(clock), tzinfo=small_clinic["clinic"].tz
    ).isoformat()


def fire_together(url: str, headers: dict, bodies: list[dict]) -> list[tuple[int, float, dict]]:
    barrier = threading.Barrier(len(bodies))

    def one(body: dict) -> tuple[int, float, dict]:
        with requests.Session() as session:
            barrier.wait()
            started = time.monotonic()
            response = session.post(f"{url}/api/v1/appointments", json=body, headers=headers, timeout=30)
            return response.status_code, time.monotonic() - started, response.json()

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_ten_requests_for_one_slot_give_one_booking(server):
    url, headers, clinic = server
    bodies = [
        {
            "patient": f"p-{i}",
            "appointment_type": "consult",
            "provider": "dr-a",
            "room": "r1",
            "start": at(clinic, "09:00"),
        }
        for i in range(1, 11)
    ]
    results = fire_together(url, headers, bodies)
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201] + [409] * 9, results
    assert {body["error"]["code"] for status, _, body in results if status == 409} == {"slot_taken"}
    assert max(seconds for _, seconds, _ in results) < 1.0, [round(s, 3) for _, s, _ in results]


def test_overlapping_times_of_different_lengths_on_one_provider_give_one_booking(server):
    url, headers, clinic = server
    bodies = []
    # Every pair overlaps: 30-minute consults, and ECGs that block 10 minutes more after.
    times = [("consult", "09:00"), ("consult", "09:15"), ("ecg", "08:45"), ("ecg", "09:00"), ("ecg", "09:15")]
    for i, (kind, clock) in enumerate(
        times * 2,
        start=1,
    ):
        room = "r3" if kind == "ecg" else f"r{1 + i % 2}"
        bodies.append(
            {
                "patient": f"p-{i}",
                "appointment_type": kind,
                "provider": "dr-a",
                "room": room,
                "start": at(clinic, clock),
            }
        )
    results = fire_together(url, headers, bodies)
    assert sorted(status for status, _, _ in results) == [201] + [409] * 9, results


OVERLAP_SQL = """
SELECT count(*) FROM scheduling_appointment a JOIN scheduling_appointment b
  ON a.id < b.id
 AND a.status IN ('booked', 'confirmed', 'checked_in')
 AND b.status IN ('booked', 'confirmed', 'checked_in')
 AND {same}
 AND tstzrange(a.{s}, a.{e}) && tstzrange(b.{s}, b.{e})
"""


def test_random_bookings_from_eight_clients_never_overlap(server):
    url, headers, clinic = server
    rng = random.Random(2027)
    day = clinic["day"]
    clocks = [f"{h:02d}:{m:02d}" for h in (8, 9, 10, 11, 13, 14, 15, 16) for m in (0, 15, 30)]
    days = [day + dt.timedelta(days=d) for d in range(2)]
    bodies = []
    for _ in range(200):
        kind = rng.choice(["consult", "ecg"])
        start = dt.datetime.combine(
            rng.choice(days), dt.time.fromisoformat(rng.choice(clocks)), tzinfo=clinic["clinic"].tz
        )
        bodies.append(
            {
                "patient": f"p-{rng.randint(1, 20)}",
                "appointment_type": kind,
                "provider": rng.choice(["dr-a", "dr-b"]),
                "room": "r3" if kind == "ecg" else rng.choice(["r1", "r2", "r3"]),
                "start": start.isoformat(),
            }
        )
    created: list[int] = []
    lock = threading.Lock()

    def client(chunk: list[dict]) -> None:
        with requests.Session() as session:
            for body in chunk:
                response = session.post(f"{url}/api/v1/appointments", json=body, headers=headers, timeout=30)
                assert response.status_code in (201, 409, 422), response.text
                if response.status_code == 201:
                    with lock:
                        created.append(response.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client, [bodies[i::8] for i in range(8)]))

    assert created, "some bookings must succeed"
    with connection.cursor() as cursor:
        for same, s, e in (
            ("a.provider_id = b.provider_id AND a.seat = b.seat", "blocked_start", "blocked_end"),
            ("a.room_id = b.room_id AND a.seat = b.seat", "blocked_start", "blocked_end"),
            ("a.patient_id = b.patient_id", "start", "end"),
        ):
            cursor.execute(OVERLAP_SQL.format(same=same, s=s, e=e))
            assert cursor.fetchone()[0] == 0, same
        cursor.execute("SELECT id FROM scheduling_appointment WHERE status = 'booked'")
        stored = {row[0] for row in cursor.fetchall()}
    assert set(created) == stored

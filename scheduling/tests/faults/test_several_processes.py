"""Several processes: gunicorn with 4 workers and two django-q2 clusters sharing Redis.

Every process runs as production does (DEBUG off, ``gunicorn -c gunicorn.conf.py``) against
the test database, with ``REDIS_URL`` naming a Redis database of this file's own
(``REDIS_DB``) as cache and broker, and a real notification hub (``notifications/tests/hub.py``)
listening in this process. Checked from outside, over HTTP:

- concurrent bookings spread over the workers give exactly one winner;
- the API's rate limit is one count in Redis, not one per worker;
- each booking's events reach the hub exactly once, whichever cluster runs the task;
- with Redis unreachable, bookings still succeed and are stored, their events wait in the
  outbox, and the rate limit falls back to a count per process (no 5xx anywhere).

Needs Redis on 127.0.0.1:6379: skipped without it, failed under ``CI=true``. The whole file
takes about half a minute; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from clinic.models import ApiToken
from clinic.tests.test_logging import free_port
from notifications.models import OutboxEvent, OutboxStatus
from notifications.tests.hub import FakeHub
from scheduling.models import Appointment
from scheduling.tests.conftest import make_user
from scheduling.tests.faults.servers import child_env

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = 13  # this file's own; flushed before and after
RATE_LIMIT = 20
STARTUP_SECONDS = 30
DELIVERY_SECONDS = 30


@pytest.fixture
def redis_db() -> Iterator[str]:
    """The URL of this file's Redis database, emptied; skip (fail under CI) without Redis."""
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"Redis does not answer on {REDIS_HOST}:{REDIS_PORT} ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI must provide it")
        pytest.skip(reason)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def closed_port() -> int:
    return free_port()  # bound and released at once: nothing listens there


class Processes:
    """Child processes, each in its own session so its workers go down with it."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        child = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.children.append((name, child))
        return child

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for _, child in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, child in self.children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait(5)
        # Workers the leaders left behind (a cluster's, a gunicorn worker's) share the group.
        for _, child in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.stop()


def environment(redis_url: str, hub: FakeHub) -> dict[str, str]:
    return child_env(
        REDIS_URL=redis_url,
        API_RATE_LIMIT=f"{RATE_LIMIT}/m",
        NOTIFICATION_HUB_URL=hub.url,
        NOTIFICATION_HUB_API_KEY="test-hub-key",
        LOG_LEVEL="WARNING",
    )


def start_gunicorn(processes: Processes, env: dict[str, str], workers: int, *extra: str) -> str:
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "clinic.wsgi"]
    server = processes.start("gunicorn", [*args, "-w", str(workers), "-b", f"127.0.0.1:{port}", *extra], env)
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, processes.log("gunicorn")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{root}/health", timeout=2).status_code == 200:
                return root
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer within {STARTUP_SECONDS} s:\n{processes.log('gunicorn')}")


def token_for(django_user_model, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ApiToken.issue(make_user(django_user_model, name))[1]}"}


def at(clinic: dict, day: dt.date, clock: str) -> str:
    return dt.datetime.combine(day, dt.time.fromisoformat(clock), tzinfo=clinic["clinic"].tz).isoformat()


def fire_together(root: str, headers: dict, bodies: list[dict]) -> list[tuple[int, dict]]:
    """Every body POSTed at once, each on its own connection (so the workers share them)."""
    barrier = threading.Barrier(len(bodies))

    def one(body: dict) -> tuple[int, dict]:
        barrier.wait(timeout=10)
        response = requests.post(f"{root}/api/v1/appointments", json=body, headers=headers, timeout=30)
        return response.status_code, response.json()

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_bookings_rate_limit_and_events_across_four_workers_and_two_clusters(
    redis_db, processes, small_clinic, django_user_model
):
    hub = FakeHub().start()
    try:
        env = environment(redis_db, hub)
        for name in ("cluster-1", "cluster-2"):
            processes.start(name, [sys.executable, "manage.py", "qcluster"], env)
        # --max-requests 5: no worker process serves more than five requests, so a count kept
        # in a worker's memory could never reach the limit; only one shared through Redis can.
        root = start_gunicorn(processes, env, 4, "--max-requests", "5")

        # One winner among ten identical requests, and among ten mutually overlapping ones.
        clinic, day = small_clinic, small_clinic["day"]
        identical = [
            {
                "patient": f"p-{i}",
                "appointment_type": "consult",
                "provider": "dr-a",
                "room": "r1",
                "start": at(clinic, day, "09:00"),
            }
            for i in range(1, 11)
        ]
        results = fire_together(root, token_for(django_user_model, "desk-identical"), identical)
        assert sorted(status for status, _ in results) == [201] + [409] * 9, results
        assert {body["error"]["code"] for status, body in results if status == 409} == {"slot_taken"}

        overlapping = []
        times = [
            ("consult", "09:00"),
            ("consult", "09:15"),
            ("ecg", "08:45"),
            ("ecg", "09:00"),
            ("ecg", "09:15"),
        ]
        for i, (kind, clock) in enumerate(times * 2, start=11):
            overlapping.append(
                {
                    "patient": f"p-{i}",
                    "appointment_type": kind,
                    "provider": "dr-b",
                    "room": "r3" if kind == "ecg" else f"r{1 + i % 2}",
                    "start": at(clinic, day + dt.timedelta(days=1), clock),
                }
            )
        results = fire_together(root, token_for(django_user_model, "desk-overlap"), overlapping)
        assert sorted(status for status, _ in results) == [201] + [409] * 9, results
        assert Appointment.objects.count() == 2

        # More events: a cancellation and a few bookings one after the other.
        events_user = token_for(django_user_model, "desk-events")
        first = Appointment.objects.order_by("pk").first()
        assert first is not None
        cancelled = requests.post(
            f"{root}/api/v1/appointments/{first.pk}/cancel",
            json={"reason": "several processes"},
            headers=events_user,
            timeout=10,
        )
        assert cancelled.status_code == 200, cancelled.text
        for n, clock in enumerate(("13:00", "13:30", "14:00", "14:30"), start=1):
            booked = requests.post(
                f"{root}/api/v1/appointments",
                json={
                    "patient": f"p-{n}",
                    "appointment_type": "consult",
                    "provider": "dr-a",
                    "room": "r2",
                    "start": at(clinic, day + dt.timedelta(days=2), clock),
                },
                headers=events_user,
                timeout=10,
            )
            assert booked.status_code == 201, (booked.text, processes.log("gunicorn")[-4000:])

        # The rate limit, one count in Redis: 20 requests pass, the 21st is refused, though
        # no worker process served more than five of them.
        limited = token_for(django_user_model, "desk-limited")
        answers = [
            requests.get(f"{root}/api/v1/providers", headers=limited, timeout=10).status_code
            for _ in range(RATE_LIMIT + 1)
        ]
        assert answers == [200] * RATE_LIMIT + [429], answers

        # Every event reaches the hub exactly once, through the two clusters.
        expected = set(OutboxEvent.objects.values_list("event_id", flat=True))
        assert len(expected) >= 7, expected  # 6 bookings and a cancellation at least
        deadline = time.monotonic() + DELIVERY_SECONDS
        while time.monotonic() < deadline and set(hub.event_ids()) != expected:
            time.sleep(0.2)
        time.sleep(1)  # a duplicate would come within this second, too
        received = hub.event_ids()
        assert sorted(received) == sorted(expected), (
            received,
            processes.log("cluster-1")[-3000:],
            processes.log("cluster-2")[-3000:],
        )
        statuses = set(OutboxEvent.objects.values_list("status", flat=True))
        assert statuses == {OutboxStatus.SENT}, statuses
        for name in ("cluster-1", "cluster-2", "gunicorn"):
            assert "Traceback" not in processes.log(name), processes.log(name)[-3000:]
    finally:
        processes.stop()
        hub.stop()


def test_with_redis_down_bookings_succeed_and_their_events_wait(
    redis_db, processes, small_clinic, django_user_model
):
    hub = FakeHub().start()
    try:
        env = environment(f"redis://127.0.0.1:{closed_port()}/{REDIS_DB}", hub)
        root = start_gunicorn(processes, env, 2)
        headers = token_for(django_user_model, "desk-no-redis")
        body = {
            "patient": "p-1",
            "appointment_type": "consult",
            "provider": "dr-a",
            "room": "r1",
            "start": at(small_clinic, small_clinic["day"], "10:00"),
        }
        booked = requests.post(f"{root}/api/v1/appointments", json=body, headers=headers, timeout=10)
        assert booked.status_code == 201, (booked.text, processes.log("gunicorn")[-4000:])
        again = requests.post(f"{root}/api/v1/appointments", json=body, headers=headers, timeout=10)
        assert again.status_code == 409 and again.json()["error"]["code"] == "slot_taken", again.text

        appointment = Appointment.objects.get(pk=booked.json()["id"])
        assert appointment.patient.code == "p-1"
        # Its event is in the outbox, waiting for a cluster (none can run without its broker).
        event = OutboxEvent.objects.get(appointment=appointment)
        assert event.status == OutboxStatus.PENDING
        assert hub.received == []

        # The rate limit still holds, per process: with two workers, 41 requests are more than
        # either may serve under the limit, and the first 20 are within it wherever they went.
        answers = [
            requests.get(f"{root}/api/v1/providers", headers=headers, timeout=10).status_code
            for _ in range(2 * RATE_LIMIT + 1)
        ]
        assert set(answers) <= {200, 429}, answers
        assert answers[: RATE_LIMIT - 2] == [200] * (RATE_LIMIT - 2), answers
        assert 429 in answers, answers
        log = processes.log("gunicorn")
        assert "API rate limits are counted per process" in log, log[-3000:]
        assert "Could not queue outbox event" in log and "Traceback" not in log, log[-3000:]
    finally:
        processes.stop()
        hub.stop()

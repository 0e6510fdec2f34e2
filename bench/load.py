"""Load: 50 users for 60 s against gunicorn, 80 % slot searches, 15 % bookings, 5 % cancellations.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60] [--workers 4] [--think 0.5,1.5]

locust, headless and in this process, on loopback only. Builds a scratch database
(``bench_load`` on DATABASE_URL's server, or on the embedded server), loads the demo
clinic's file without its bookings, books a first batch through the API (so cancellations
have something to cancel from the start), starts gunicorn as the README deploys it
(``-c gunicorn.conf.py``, DEBUG off, no REDIS_URL) on a free port of 127.0.0.1, and lets
the users search, book and cancel for a fixed time. Every answer but a booking's 409 (the
slot or the patient taken meanwhile) counts as an error; the run exits 1 on any. Prints
p50, p95 and throughput per kind of request, checks in SQL that nothing overlaps, and
drops the database.
"""

# ruff: noqa: E402 - gevent must patch the standard library before anything imports ssl
from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # locust's users are greenlets

import argparse
import collections
import datetime as dt
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import gevent
import psycopg
import requests
from booking import free_port, server_url, with_database
from locust import FastHttpUser, between, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DATABASE = "bench_load"
PRE_BOOKED = 150
KINDS = ("slot search", "booking", "cancellation")

# Filled by main() before the users start; the users only read them (and the deque).
shared: dict = {}
cancellable: collections.deque[int] = collections.deque()
latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
answers: dict[str, collections.Counter] = {kind: collections.Counter() for kind in KINDS}
unexpected: list[str] = []


class FrontDesk(FastHttpUser):
    """One desk: mostly searches, sometimes books an offered slot or cancels a booking."""

    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.headers = {"Authorization": f"Bearer {shared['token']}"}

    def answer(self, kind: str, response, expected: tuple[int, ...]) -> None:
        answers[kind][response.status_code] += 1
        if response.status_code in expected:
            response.success()
        else:
            response.failure(f"{response.status_code}")
            if len(unexpected) < 20:
                unexpected.append(f"{kind}: {response.status_code} {(response.text or '')[:200]}")

    @task(16)
    def search(self) -> None:
        day = self.rng.choice(shared["days"]).isoformat()
        params = f"appointment_type={self.rng.choice(shared['types'])}&date_from={day}&date_to={day}&limit=20"
        with self.client.get(
            f"/api/v1/slots?{params}", headers=self.headers, name="slot search", catch_response=True
        ) as response:
            self.answer("slot search", response, (200,))

    @task(3)
    def book(self) -> None:
        body = {**self.rng.choice(shared["slots"]), "patient": self.rng.choice(shared["patients"])}
        with self.client.post(
            "/api/v1/appointments", json=body, headers=self.headers, name="booking", catch_response=True
        ) as response:
            self.answer("booking", response, (201, 409))
            if response.status_code == 201:
                cancellable.append(response.json()["id"])

    @task(1)
    def cancel(self) -> None:
        if not cancellable:
            return self.book()
        pk = cancellable.popleft()
        with self.client.post(
            f"/api/v1/appointments/{pk}/cancel",
            json={"reason": "load test"},
            headers=self.headers,
            name="cancellation",
            catch_response=True,
        ) as response:
            self.answer("cancellation", response, (200,))


def record(request_type, name, response_time, response_length, exception=None, **kwargs) -> None:
    if name in latencies:
        latencies[name].append(response_time)


def prepare(env: dict[str, str]) -> dict:
    print(f"preparing {DATABASE} (migrate, demo clinic without bookings) ...", flush=True)
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    demo = json.loads((ROOT / "clinic/demo/riverside.json").read_text())
    demo.pop("appointments", None)
    demo.pop("waitlist", None)
    subprocess.run(
        [PY, "manage.py", "load_clinic", "-"],
        cwd=ROOT,
        env=env,
        check=True,
        input=json.dumps(demo),
        text=True,
        stdout=subprocess.DEVNULL,
    )
    made = subprocess.run(
        [PY, "manage.py", "create_api_token", "bench-load"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return {"demo": demo, "token": made.stdout.strip().splitlines()[-1]}


def offered_slots(root: str, headers: dict, types: list[str], days: list[dt.date]) -> list[dict]:
    """Regular-seat slots the engine offers for every type on each day: what desks book."""
    pool = []
    for day in days:
        for kind in types:
            offered = requests.get(
                f"{root}/api/v1/slots",
                params={
                    "appointment_type": kind,
                    "date_from": day,
                    "date_to": day,
                    "limit": 1000,
                    "overbook": "false",
                },
                headers=headers,
                timeout=30,
            ).json()["slots"]
            pool += [
                {"appointment_type": kind, "provider": o["provider"], "room": o["room"], "start": o["start"]}
                for o in offered
            ]
    return pool


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: a measured value."""
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered) + 0.5) - 1)] if ordered else float("nan")


def overlaps(url: str) -> int:
    total = 0
    with psycopg.connect(url) as conn:
        for same, s, e in (
            ("a.provider_id = b.provider_id AND a.seat = b.seat", "blocked_start", "blocked_end"),
            ("a.room_id = b.room_id AND a.seat = b.seat", "blocked_start", "blocked_end"),
            ("a.patient_id = b.patient_id", "start", '"end"'),
        ):
            total += conn.execute(
                f"""SELECT count(*) FROM scheduling_appointment a JOIN scheduling_appointment b ON a.id < b.id
                AND a.status IN ('booked','confirmed','checked_in') AND b.status IN ('booked','confirmed','checked_in')
                AND {same} AND tstzrange(a.{s}, a.{e}) && tstzrange(b.{s}, b.{e})"""
            ).fetchone()[0]
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--think", default="0.5,1.5", help="seconds each user waits between requests: MIN,MAX"
    )
    args = parser.parse_args()
    low, high = (float(x) for x in args.think.split(","))
    FrontDesk.wait_time = between(low, high)

    base = server_url()
    admin = psycopg.connect(with_database(base, "postgres"), autocommit=True)
    server_version = admin.execute("SHOW server_version").fetchone()[0].split()[0]
    admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    admin.execute(f"CREATE DATABASE {DATABASE}")
    url = with_database(base, DATABASE)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_RATE_LIMIT": "1000000/m",  # 50 users share one token here; a desk is one person
        "LOG_LEVEL": "WARNING",
    }
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    for name in ("REDIS_URL", "NOTIFICATION_HUB_URL"):
        env.pop(name, None)  # the README's deployment: no Redis; no hub (events recorded as skipped)
    gunicorn = None
    errors_log = tempfile.NamedTemporaryFile("w+", prefix="bench-load-gunicorn-", suffix=".log")
    try:
        prepared = prepare(env)
        demo = prepared["demo"]
        port = free_port()
        gunicorn = subprocess.Popen(
            [PY, "-m", "gunicorn", "-c", "gunicorn.conf.py", "clinic.wsgi"]
            + ["-w", str(args.workers), "-b", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,  # one access line per request
            stderr=errors_log,
        )
        root = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {prepared['token']}"}
        for _ in range(150):
            try:
                if requests.get(f"{root}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        zone = ZoneInfo(demo["clinic"]["timezone"])
        today = dt.datetime.now(zone).date()
        monday = today + dt.timedelta(days=7 - today.weekday())
        days = [
            monday + dt.timedelta(days=d) for d in range(14) if (monday + dt.timedelta(days=d)).weekday() < 5
        ]
        types = [t["code"] for t in demo["appointment_types"]]
        patients = [p["code"] for p in demo["patients"]]
        slots = offered_slots(root, headers, types, days)
        rng = random.Random(2027)
        booked_first = 0
        for slot in rng.sample(slots, len(slots)):
            if booked_first == PRE_BOOKED:
                break
            response = requests.post(
                f"{root}/api/v1/appointments",
                json={**slot, "patient": rng.choice(patients)},
                headers=headers,
                timeout=10,
            )
            if response.status_code == 201:
                cancellable.append(response.json()["id"])
                booked_first += 1
        shared.update(token=prepared["token"], days=days, types=types, patients=patients, slots=slots)

        print(f"running: {args.users} users for {args.seconds:.0f} s ...", flush=True)
        environment = Environment(user_classes=[FrontDesk], host=root)
        environment.events.request.add_listener(record)
        runner = environment.create_local_runner()
        runner.start(args.users, spawn_rate=args.users)  # all at once: the run is short
        started = time.monotonic()
        gevent.spawn_later(args.seconds, runner.quit)
        runner.greenlet.join()
        wall = time.monotonic() - started
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(15)
    overlapping = overlaps(url)
    admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    errors_log.seek(0)
    server_errors = [line for line in errors_log if '"level": "ERROR"' in line]

    where = "DATABASE_URL's server" if os.environ.get("DATABASE_URL") else "the embedded server"
    print()
    print(f"database: PostgreSQL {server_version} ({where}), scratch database {DATABASE}, dropped")
    print(
        f"clinic: {demo['clinic']['code']}, the demo clinic's file without its bookings ({len(demo['providers'])}"
        f" providers, {len(demo['rooms'])} rooms), plus {booked_first} bookings made through the API before the"
        f" run; searches and bookings on weekdays {days[0]:%a %Y-%m-%d} to {days[-1]:%a %Y-%m-%d}"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} cores, load average {load}; Python {sys.version.split()[0]}; "
        f"gunicorn -c gunicorn.conf.py -w {args.workers}; locust {args.users} users, think time "
        f"{low:g}-{high:g} s, {wall:.1f} s"
    )
    print("| request | share | requests | per s | p50 ms | p95 ms | max ms | answers | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    total = sum(len(v) for v in latencies.values())
    error_count = 0
    for kind in KINDS:
        values = latencies[kind]
        expected = {"slot search": (200,), "booking": (201, 409), "cancellation": (200,)}[kind]
        errors = sum(n for status, n in answers[kind].items() if status not in expected)
        errors += len(values) - sum(answers[kind].values())  # no answer at all (connection failures)
        error_count += errors
        statuses = ", ".join(f"{n} × {status}" for status, n in sorted(answers[kind].items()))
        print(
            f"| {kind} | {100 * len(values) / max(total, 1):.0f} % | {len(values)} | {len(values) / wall:.1f} | "
            f"{percentile(values, 0.50):.1f} | {percentile(values, 0.95):.1f} | {max(values, default=0):.1f} | "
            f"{statuses} | {errors} |"
        )
    all_values = [v for values in latencies.values() for v in values]
    print(
        f"| all | 100 % | {total} | {total / wall:.1f} | {percentile(all_values, 0.50):.1f} | "
        f"{percentile(all_values, 0.95):.1f} | {max(all_values, default=0):.1f} | | {error_count} |"
    )
    print(f"overlapping bookings in the database: {overlapping}; server errors logged: {len(server_errors)}")
    for line in unexpected + server_errors[:5]:
        print("  " + line.strip())
    return 1 if error_count or overlapping or server_errors else 0


if __name__ == "__main__":
    sys.exit(main())

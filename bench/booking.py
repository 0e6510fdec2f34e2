"""Booking throughput: 8 concurrent clients against gunicorn on this machine.

    .venv/bin/python bench/booking.py [--seconds 20] [--clients 8] [--workers 4]

Builds a scratch database (``bench_booking`` on DATABASE_URL's server, or on the embedded
server), loads the demo clinic without bookings, starts gunicorn on 127.0.0.1, collects
the slots the engine offers over the next two working weeks, and lets the clients book
them, shuffled, for random patients, as fast as they can. Offered slots overlap one
another, so clients collide: those conflicts must be answered 409. Afterwards SQL must
find no overlap on any provider, room or patient, and every 201 must be in the database.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def server_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    sys.path.insert(0, str(ROOT))
    from clinic.embedded_db import embedded_database_url

    return embedded_database_url(ROOT)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    base = server_url()
    admin = psycopg.connect(with_database(base, "postgres"), autocommit=True)
    server_version = admin.execute("SHOW server_version").fetchone()[0].split()[0]
    admin.execute("DROP DATABASE IF EXISTS bench_booking")
    admin.execute("CREATE DATABASE bench_booking")
    url = with_database(base, "bench_booking")
    env = {**os.environ, "DATABASE_URL": url, "API_RATE_LIMIT": "1000000/m", "DEBUG": "false"}
    print("preparing the scratch database (migrate, demo clinic without bookings) ...", flush=True)
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
    token = (
        subprocess.run(
            [PY, "manage.py", "create_api_token", "bench"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )

    port = free_port()
    gunicorn = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "clinic.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        root = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(100):
            try:
                if requests.get(f"{root}/health", timeout=5).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        types = requests.get(f"{root}/api/v1/appointment-types", headers=headers, timeout=5).json()
        patients = [p["code"] for p in demo["patients"]]
        tz = demo["clinic"]["timezone"]
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(tz)
        today = dt.datetime.now(zone).date()
        monday = today + dt.timedelta(days=7 - today.weekday())
        days = [
            monday + dt.timedelta(days=d) for d in range(60) if (monday + dt.timedelta(days=d)).weekday() < 5
        ]
        # What a front desk books: slots the engine offered. Offered slots overlap one
        # another (one per provider and start), so racing clients still collide: 409s.
        pool: list[dict] = []
        for day in days:
            for kind in types:
                offered = requests.get(
                    f"{root}/api/v1/slots",
                    params={
                        "appointment_type": kind["code"],
                        "date_from": day,
                        "date_to": day,
                        "limit": 1000,
                        "overbook": "false",
                    },
                    headers=headers,
                    timeout=30,
                ).json()["slots"]
                pool += [
                    {
                        "appointment_type": kind["code"],
                        "provider": o["provider"],
                        "room": o["room"],
                        "start": o["start"],
                    }
                    for o in offered
                ]
        # Keep a plan a clinic could really fill (no two kept slots share a provider or a
        # room), then send one request in ten a second time: those must come back 409.
        by_code = {t["code"]: t for t in types}
        held: dict[str, list[tuple[dt.datetime, dt.datetime]]] = collections.defaultdict(list)
        plan = []
        for slot in sorted(pool, key=lambda o: o["start"]):
            kind = by_code[slot["appointment_type"]]
            start = dt.datetime.fromisoformat(slot["start"])
            blocked = (
                start - dt.timedelta(minutes=kind["buffer_before_minutes"]),
                start + dt.timedelta(minutes=kind["duration_minutes"] + kind["buffer_after_minutes"]),
            )
            keys = ("p:" + slot["provider"], "r:" + slot["room"])
            if all(b[1] <= blocked[0] or blocked[1] <= b[0] for key in keys for b in held[key][-8:]):
                for key in keys:
                    held[key].append(blocked)
                plan.append(slot)
        rng = random.Random(2027)
        plan += rng.sample(plan, len(plan) // 10)
        rng.shuffle(plan)
        work = collections.deque(plan)

        latencies: list[float] = []
        statuses: dict[int, int] = {}
        created: list[int] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds

        def client(seed: int) -> None:
            # http.client rather than requests: the clients share the server's two cores,
            # and the lighter the client, the less it disturbs what is measured.
            rng = random.Random(seed)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            post_headers = {**headers, "Content-Type": "application/json"}
            while time.monotonic() < deadline:
                try:
                    body = {**work.popleft(), "patient": rng.choice(patients)}
                except IndexError:
                    break
                started = time.perf_counter()
                connection.request("POST", "/api/v1/appointments", json.dumps(body), post_headers)
                response = connection.getresponse()
                answer = response.read()
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status == 201:
                        created.append(json.loads(answer)["id"])
            connection.close()

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
    finally:
        gunicorn.terminate()
        gunicorn.wait(10)

    with psycopg.connect(url) as conn:
        overlaps = {}
        for name, same, s, e in (
            ("provider", "a.provider_id = b.provider_id AND a.seat = b.seat", "blocked_start", "blocked_end"),
            ("room", "a.room_id = b.room_id AND a.seat = b.seat", "blocked_start", "blocked_end"),
            ("patient", "a.patient_id = b.patient_id", "start", '"end"'),
        ):
            overlaps[name] = conn.execute(
                f"""SELECT count(*) FROM scheduling_appointment a JOIN scheduling_appointment b ON a.id < b.id
                AND a.status IN ('booked','confirmed','checked_in') AND b.status IN ('booked','confirmed','checked_in')
                AND {same} AND tstzrange(a.{s}, a.{e}) && tstzrange(b.{s}, b.{e})"""  # noqa: S608 - fixed text
            ).fetchone()[0]
        stored = {row[0] for row in conn.execute("SELECT id FROM scheduling_appointment")}
    admin.execute("DROP DATABASE IF EXISTS bench_booking")

    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))] * 1000
    booked_per_s = statuses.get(201, 0) / wall
    answered_per_s = len(latencies) / wall
    print()
    where = "DATABASE_URL's server" if os.environ.get("DATABASE_URL") else "the embedded server"
    print(f"database: PostgreSQL {server_version} ({where})")
    print(
        f"clinic: {demo['clinic']['code']}, the demo clinic's file without the week of bookings `make demo`"
        f" adds ({len(demo['providers'])} providers, {len(demo['rooms'])} rooms, no bookings at the start);"
        f" offered regular-seat slots of every type, weekdays {days[0]:%a %Y-%m-%d} to {days[-1]:%a %Y-%m-%d}"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, gunicorn -w {args.workers}, "
        f"{args.clients} clients, {wall:.1f} s"
    )
    print(
        "| requests/s | bookings/s (201) | p50 ms | p95 ms | max ms | 201 | 409 | 422 | other | overlaps | 201s stored |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    other = sum(v for k, v in statuses.items() if k not in (201, 409, 422))
    print(
        f"| {answered_per_s:.0f} | {booked_per_s:.0f} | {statistics.median(ordered) * 1000:.1f} | {p95:.1f} | "
        f"{ordered[-1] * 1000:.1f} | {statuses.get(201, 0)} | {statuses.get(409, 0)} | {statuses.get(422, 0)} | "
        f"{other} | {sum(overlaps.values())} | {'all' if set(created) <= stored else 'MISSING'} |"
    )
    print("targets (issue 11): >= 300 bookings/s, p95 <= 40 ms; always: no overlaps, no lost 201")


if __name__ == "__main__":
    main()

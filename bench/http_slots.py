"""Slot search over HTTP: issue 11's table, against gunicorn as the README deploys it.

    .venv/bin/python bench/http_slots.py [--runs 30] [--workers 3] [--no-s3]

Builds a throwaway database (``test_bench_http`` on the embedded server, or on the server
DATABASE_URL names), loads the reference clinic of ``../shared/bench/reference_clinic.py``
(run from there, never copied here) and, unless ``--no-s3``, the large generated clinic
of bench/slots.py (S3: 50 providers, 40 rooms, built by its own functions). Then it starts
``gunicorn -c gunicorn.conf.py clinic.wsgi`` (3 workers) on a free port of 127.0.0.1 and
times GET /api/v1/slots from one keep-alive client (http.client), one request after the
other, as a front-desk user. Prints a markdown table (p50, p95, target, met?) and the
machine line, and drops the database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "bench" / "reference_clinic.py"
sys.path.insert(0, str(ROOT))

# bench.slots sets Django up (settings, the API's rate limit off for one busy user).
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import slots  # noqa: E402
from clinic.management.commands.create_api_token import role_group  # noqa: E402
from clinic.models import ApiToken, Clinic, Membership  # noqa: E402
from clinic.roles import FRONT_DESK  # noqa: E402

DATABASE = "test_bench_http"
# Runs per row and per worker before the timed ones: enough for every worker to have the
# clinic's setup in memory and its statements prepared (psycopg prepares on the fifth run).
WARMUP = 8


def load_reference() -> types.ModuleType:
    """The shared reference script, executed where it lives (it reads its JSON beside it)."""
    if not REFERENCE.is_file():
        sys.exit(
            f"bench/http_slots.py: the reference clinic script is missing: {REFERENCE} "
            "(expected in ../shared/bench beside this checkout)."
        )
    module = types.ModuleType("reference_clinic")
    module.__file__ = str(REFERENCE)
    exec(compile(REFERENCE.read_text(), str(REFERENCE), "exec"), module.__dict__)  # noqa: S102 - our shared script
    return module


def reference_monday(today: dt.date) -> dt.date:
    """The reference script's default: the first Monday at least 14 days from today."""
    t = today + dt.timedelta(days=14)
    return t + dt.timedelta(days=(7 - t.weekday()) % 7)


def database_url(name: str) -> str:
    """The URL gunicorn's workers use: the server this process talks to, database `name`."""
    if os.environ.get("DATABASE_URL"):
        base = os.environ["DATABASE_URL"]
    else:
        from clinic.embedded_db import embedded_database_url

        base = embedded_database_url(ROOT)
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Row:
    name: str
    paths: list[str]  # one timed run requests each of these in turn; its time is the sum
    target_ms: float


def percentile(values: list[float], share: float) -> float:
    return slots.percentile(values, share)


def timed(get: Callable[[str], tuple[int, bytes]], row: Row) -> float:
    started = time.perf_counter()
    for path in row.paths:
        status, body = get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:500]!r}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per row (default 30)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--no-s3", action="store_true", help="skip the large generated clinic (S3, 31 days)")
    args = parser.parse_args(argv)
    reference = load_reference()

    today = timezone.localdate(timezone.now(), slots.TZ)
    monday = reference_monday(today)
    sunday = monday + dt.timedelta(days=6)
    with slots.throwaway_database(DATABASE) as name:
        started = time.perf_counter()
        data = reference.clinic_file(monday)
        call_command("load_clinic", "-", stdin=io.StringIO(json.dumps(data)), stdout=io.StringIO())
        print(
            f"database: {name} (throwaway); loaded {data['clinic']['code']} from {REFERENCE.name}:"
            f" {len(data['providers'])} providers, {len(data['rooms'])} rooms,"
            f" {len(data['appointments'])} bookings in the week of {monday:%a %Y-%m-%d}"
            f" ({time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        s3_first = slots.first_benchmark_day(today)
        if not args.no_s3:
            started = time.perf_counter()
            shape = slots.LARGE
            built = slots.build_clinic(shape, s3_first, random.Random(f"{slots.SEED}-{shape.seed}"))
            print(
                f"built {shape.code} as bench/slots.py does: {shape.providers} providers, {shape.rooms} rooms,"
                f" {built.bookings} bookings over {shape.days} days from {s3_first:%a %Y-%m-%d}"
                f" ({time.perf_counter() - started:.1f} s)",
                flush=True,
            )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        user = get_user_model().objects.create_user("bench-http", is_staff=True)
        user.groups.add(role_group(FRONT_DESK))
        Membership.objects.bulk_create([Membership(user=user, clinic=c) for c in Clinic.objects.all()])
        _, token = ApiToken.issue(user)
        machine = slots.machine()
        connection.close()

        def path(kind: str, first: dt.date, last: dt.date, limit: int, clinic: str = "reference") -> str:
            query = {
                "appointment_type": kind,
                "date_from": first,
                "date_to": last,
                "limit": limit,
                "clinic": clinic,
            }
            return "/api/v1/slots?" + urlencode(query)

        checkup = "general-checkup"
        rows = [
            Row(f"`{checkup}`, the Monday, `limit=20`", [path(checkup, monday, monday, 20)], 5),
            Row(f"`{checkup}`, the Monday, `limit=1000`", [path(checkup, monday, monday, 1000)], 7),
            Row(
                "all six types, the Monday, six calls (total)",
                [path(reference.code(t), monday, monday, 1000) for t in reference.TYPES],
                30,
            ),
            Row(f"`{checkup}`, Monday to Sunday, `limit=1000`", [path(checkup, monday, sunday, 1000)], 15),
        ]
        if not args.no_s3:
            s3_last = s3_first + dt.timedelta(days=30)
            rows.append(
                Row(
                    f"S3 of bench/slots.py ({slots.LARGE.code}, `{slots.QUERY_TYPE}`, `limit=20`), 31 days",
                    [path(slots.QUERY_TYPE, s3_first, s3_last, 20, slots.LARGE.code)],
                    150,
                )
            )

        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url(name),
            "DEBUG": "false",
            "WEB_CONCURRENCY": str(args.workers),
        }
        # As the README deploys it; both logs (gunicorn's access lines on stdout, the
        # application's JSON lines on stderr) are written as in production, to a file.
        log = tempfile.TemporaryFile()
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "clinic.wsgi"]
            + ["-b", f"127.0.0.1:{port}", "-w", str(args.workers), "--log-level", "warning"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        results: list[tuple[Row, list[float]]] = []
        try:
            headers = {"Authorization": f"Bearer {token}"}
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

            def get(p: str) -> tuple[int, bytes]:
                client.request("GET", p, headers=headers)
                response = client.getresponse()
                return response.status, response.read()

            for _ in range(150):
                try:
                    if get("/health")[0] == 200:
                        break
                except OSError:
                    client.close()
                    time.sleep(0.2)
            else:
                raise RuntimeError("gunicorn did not answer /health")
            for row in rows:
                for p in row.paths:
                    status, body = get(p)
                    if status != 200 or json.loads(body)["total"] <= 0:
                        raise RuntimeError(f"GET {p} answered {status} with no slots: {body[:300]!r}")
                # gunicorn's sync workers (the deployed default) close the connection after
                # each answer, so http.client reconnects and the requests spread over the
                # workers: warm each of them, or its first request (~150 ms) lands in p95.
                for _ in range(WARMUP * args.workers):
                    timed(get, row)
                results.append((row, [timed(get, row) * 1000 for _ in range(args.runs)]))
                print(f"measured: {row.name}", flush=True)
            client.close()
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read()[-3000:].decode(errors="replace"))
            raise
        finally:
            gunicorn.terminate()
            gunicorn.wait(10)
            log.close()

    print()
    print(machine)
    print(
        f"over HTTP: gunicorn -c gunicorn.conf.py clinic.wsgi, {args.workers} workers; one keep-alive"
        f" http.client client (the sync workers close each connection), sequential;"
        f" {args.runs} runs per row after {WARMUP * args.workers} warm-up runs;"
        f" reference clinic's Monday {monday:%Y-%m-%d}"
    )
    print("| query | runs | p50 ms | p95 ms | target | met? |")
    print("|---|---|---|---|---|---|")
    for row, ms in results:
        p50 = statistics.median(ms)
        print(
            f"| {row.name} | {len(ms)} | {p50:.1f} | {percentile(ms, 0.95):.1f}"
            f" | p50 ≤ {row.target_ms:g} ms | {'yes' if p50 <= row.target_ms else 'NO'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

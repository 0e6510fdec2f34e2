"""The front desk's server time: the day board and the find-and-book fragment.

    .venv/bin/python bench/ui.py [--runs 50]

Builds a throwaway database (``test_bench_slots``'s way: ``test_bench_ui`` on the embedded
server, or on the server DATABASE_URL names), seeds the demo clinic with its week of
bookings (about 500), logs in a front-desk user and times the staff pages through the
whole Django stack (sessions, permissions, templates) with the test client. Target: p50
at most 50 ms for the day board and for the find-and-book fragment. It reports; it does
not gate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.slots import machine, percentile, throwaway_database  # noqa: E402  (sets Django up)
from clinic.demo import seed_demo  # noqa: E402
from clinic.models import Clinic  # noqa: E402
from scheduling.models import Appointment  # noqa: E402

TARGET_MS = 50.0
HX = {"HTTP_HX_REQUEST": "true"}


def busiest_day(clinic: Clinic) -> dt.date:
    days = Counter(a.start.astimezone(clinic.tz).date() for a in Appointment.objects.filter(clinic=clinic))
    return days.most_common(1)[0][0]


def timed(client: Client, path: str, headers: dict[str, str], runs: int) -> tuple[list[float], int, int]:
    """Milliseconds per request, the queries of one request, and the answer's size."""
    client.get(path, **headers)  # warm: templates compiled, connection open
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    queries = 0

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        size = len(client.get(path, **headers).content)
    return timings, queries, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the staff UI's main pages and fragments.")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)

    with throwaway_database("test_bench_ui") as name:
        print(f"database: {name} (throwaway); seeding the demo clinic ...", flush=True)
        seed_demo()
        clinic = Clinic.objects.get()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        day = busiest_day(clinic)
        on_day = Appointment.objects.filter(clinic=clinic, start__date=day).count()
        appointment = Appointment.objects.filter(clinic=clinic).order_by("start").first()
        assert appointment is not None
        user = get_user_model().objects.create_user("bench-desk", is_staff=True)
        from clinic.management.commands.create_api_token import role_group
        from clinic.roles import FRONT_DESK

        user.groups.add(role_group(FRONT_DESK))
        client = Client()
        client.force_login(user)
        week = f"date_from={day}&date_to={day + dt.timedelta(days=6)}"
        cases = [
            ("day board, whole page", f"/?date={day}", {}),
            ("day board, fragment (poll)", f"/?date={day}", {**HX, "HTTP_HX_TARGET": "board"}),
            (
                "day board by room, fragment",
                f"/?date={day}&view=rooms",
                {**HX, "HTTP_HX_TARGET": "board"},
            ),
            (
                "find-and-book slots, 7 days",
                f"/book/?patient=p-1001&appointment_type=consult&{week}",
                {**HX, "HTTP_HX_TARGET": "slots"},
            ),
            (
                "find-and-book panel, at a time",
                f"/book/?appointment_type=consult&date_from={day}&date_to={day}&at=10:00&provider=dr-haddad",
                {**HX, "HTTP_HX_TARGET": "panel"},
            ),
            ("appointment panel", f"/appointments/{appointment.pk}/", {**HX, "HTTP_HX_TARGET": "panel"}),
        ]
        rows = []
        for label, path, headers in cases:
            timings, queries, size = timed(client, path, headers, args.runs)
            rows.append((label, timings, queries, size))
            print(f"{label}: done", flush=True)
        print()
        print(machine())
        print(
            f"clinic: the demo clinic (Riverside, 5 providers, 8 rooms);"
            f" day {day:%a %Y-%m-%d} with {on_day} appointments"
        )
        print("| page | runs | p50 ms | p95 ms | max ms | queries | KiB | target | met? |")
        print("|---|---|---|---|---|---|---|---|---|")
        for label, timings, queries, size in rows:
            p50 = statistics.median(timings)
            gated = label.startswith(("day board, whole", "day board, fragment", "find-and-book slots"))
            target = f"p50 <= {TARGET_MS:.0f} ms" if gated else "-"
            met = ("yes" if p50 <= TARGET_MS else "no") if gated else "-"
            print(
                f"| {label} | {len(timings)} | {p50:.1f} | {percentile(timings, 0.95):.1f} |"
                f" {max(timings):.1f} | {queries} | {size / 1024:.0f} | {target} | {met} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``GET /api/v1/stats`` reads and never writes (issue 10): a stale or missing snapshot is
computed for the answer, not stored; the hourly job stores snapshots and clears marks."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling import jobs
from scheduling.models import NoShowRate, ProviderDayStats, RoomDayStats, StatsDirtyDay

from .test_api_appointments import booking
from .test_stats_freshness import dr_a, stats

pytestmark = pytest.mark.django_db

STATS_TABLES = ("scheduling_providerdaystats", "scheduling_roomdaystats", "scheduling_statsdirtyday")


def stored() -> dict[str, list]:
    return {
        "providers": list(
            ProviderDayStats.objects.order_by("pk").values_list("pk", "appointments", "computed_at")
        ),
        "rooms": list(RoomDayStats.objects.order_by("pk").values_list("pk", "booked_minutes", "computed_at")),
        "marks": list(StatsDirtyDay.objects.order_by("pk").values_list("pk", flat=True)),
        "rates": list(NoShowRate.objects.order_by("pk").values_list("pk", flat=True)),
    }


def writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and any(table in q["sql"] for table in STATS_TABLES)
    ]


def read_stats(call, day) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        body = stats(call, day)
    return body, writes(captured.captured_queries)


def test_a_day_never_computed_is_answered_without_storing_it(small_clinic, call):
    day = small_clinic["day"]
    assert stored() == {"providers": [], "rooms": [], "marks": [], "rates": []}

    body, written = read_stats(call, day)

    assert written == []
    assert stored() == {"providers": [], "rooms": [], "marks": [], "rates": []}
    assert [p["provider"] for p in body["providers"]] == ["dr-a", "dr-b"]
    assert dr_a(body)["available_minutes"] == 8 * 60


def test_after_a_booking_the_figures_are_current_and_nothing_is_written(small_clinic, call):
    day = small_clinic["day"]
    jobs.compute_stats(day, now=timezone.now())  # the job's snapshot: no appointments yet
    assert call("post", "/api/v1/appointments", booking(small_clinic)).status_code == 201
    before = stored()
    assert before["marks"]  # the booking marked its day

    body, written = read_stats(call, day)

    assert written == []
    assert stored() == before  # same rows, same figures, same computed_at; the mark stays
    assert (dr_a(body)["appointments"], dr_a(body)["booked_minutes"]) == (1, 30)


def test_a_fresh_snapshot_is_read_as_stored(small_clinic, call, django_assert_max_num_queries):
    day = small_clinic["day"]
    jobs.compute_stats(day, now=timezone.now())
    before = stored()

    # The token (and its first use stamped), the clinic's scope, providers, rooms.
    with django_assert_max_num_queries(5):
        body = stats(call, day)

    assert stored() == before
    computed_at = before["providers"][0][2].astimezone(small_clinic["clinic"].tz)
    assert body["computed_at"] == computed_at.isoformat(timespec="seconds")


def test_the_job_still_stores_the_day_and_clears_its_marks(small_clinic, call):
    day = small_clinic["day"]
    call("post", "/api/v1/appointments", booking(small_clinic))
    stats(call, day)

    jobs.compute_stats(now=timezone.now())

    assert ProviderDayStats.objects.get(date=day, provider__code="dr-a").appointments == 1
    assert not StatsDirtyDay.objects.exists()

"""Stats stay current: every booking change marks its day in its own transaction, the job
and the stats endpoint recompute marked days, a provider added later appears, and the
answer says when it was computed (issue 14, item 3)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from clinic.tests.factories import ProviderFactory, RoomFactory
from scheduling import jobs
from scheduling.models import ProviderDayStats, StatsDirtyDay

from .test_api_appointments import booking, local

pytestmark = pytest.mark.django_db


def stats(call, day: dt.date) -> dict:
    response = call("get", f"/api/v1/stats?date={day}")
    assert response.status_code == 200, response.content
    return response.json()


def dr_a(body: dict) -> dict:
    return next(p for p in body["providers"] if p["provider"] == "dr-a")


def test_a_booking_after_the_snapshot_shows_at_once(small_clinic, call):
    day = small_clinic["day"]
    before = stats(call, day)
    assert dr_a(before)["appointments"] == 0

    call("post", "/api/v1/appointments", booking(small_clinic))
    after = stats(call, day)

    assert (dr_a(after)["appointments"], dr_a(after)["booked_minutes"]) == (1, 30)
    assert after["computed_at"] >= before["computed_at"]


def test_cancel_and_status_changes_show_at_once(small_clinic, call):
    day = small_clinic["day"]
    first = call("post", "/api/v1/appointments", booking(small_clinic)).json()
    second = call("post", "/api/v1/appointments", booking(small_clinic, patient="p-2", clock="10:00")).json()
    assert dr_a(stats(call, day))["appointments"] == 2

    call("post", f"/api/v1/appointments/{first['id']}/cancel", {"reason": "ill"})
    call("post", f"/api/v1/appointments/{second['id']}/confirm")
    body = stats(call, day)

    assert (dr_a(body)["appointments"], dr_a(body)["cancellations"]) == (1, 1)
    # The answer was computed for the reader; the marks stay for the job (a read never writes).
    assert set(StatsDirtyDay.objects.values_list("date", flat=True)) == {day}


def test_every_booking_change_marks_its_days_in_its_own_transaction(small_clinic, call):
    day = small_clinic["day"]
    first = call("post", "/api/v1/appointments", booking(small_clinic)).json()
    assert set(StatsDirtyDay.objects.values_list("date", flat=True)) == {day}
    StatsDirtyDay.objects.all().delete()

    # A reschedule to the next day marks both days.
    tuesday = local(small_clinic, "09:00", day + dt.timedelta(days=1))
    moved = call("post", f"/api/v1/appointments/{first['id']}/reschedule", {"start": tuesday}).json()
    assert set(StatsDirtyDay.objects.values_list("date", flat=True)) == {day, day + dt.timedelta(days=1)}
    StatsDirtyDay.objects.all().delete()

    # A refused change leaves no mark: the mark is part of the change's transaction.
    refused = call("post", f"/api/v1/appointments/{moved['appointment']['id']}/reschedule", {"start": "x"})
    assert refused.status_code == 422
    off_grid = local(small_clinic, "09:05", day)
    assert (
        call(
            "post", f"/api/v1/appointments/{moved['appointment']['id']}/reschedule", {"start": off_grid}
        ).status_code
        == 422
    )
    assert not StatsDirtyDay.objects.exists()

    call("post", f"/api/v1/appointments/{moved['appointment']['id']}/check-in")
    assert list(StatsDirtyDay.objects.values_list("date", flat=True)) == [day + dt.timedelta(days=1)]


def test_the_job_recomputes_marked_days_beyond_yesterday_and_today(small_clinic, call):
    day = small_clinic["day"]
    now = timezone.now()
    jobs.compute_stats(day, now=now)
    call("post", "/api/v1/appointments", booking(small_clinic))

    computed = jobs.compute_stats(now=now)

    assert day in {c.date for c in computed}
    assert ProviderDayStats.objects.get(date=day, provider__code="dr-a").appointments == 1
    assert not StatsDirtyDay.objects.exists()
    # Nothing marked: only yesterday and today again.
    assert len(jobs.compute_stats(now=now)) == 2


def test_a_mark_made_while_computing_survives_for_the_next_run(small_clinic):
    clinic, day = small_clinic["clinic"], small_clinic["day"]
    now = timezone.now()
    StatsDirtyDay.objects.create(clinic=clinic, date=day, marked_at=now)
    seen = jobs._dirty_marks(clinic, day)[day]
    late = StatsDirtyDay.objects.create(clinic=clinic, date=day, marked_at=now)  # commits mid-computation

    jobs._recompute(clinic, day, seen, now)

    assert list(StatsDirtyDay.objects.values_list("pk", flat=True)) == [late.pk]


def test_a_provider_and_a_room_added_later_appear(small_clinic, call):
    day = small_clinic["day"]
    jobs.compute_stats(day, now=timezone.now())
    ProviderFactory(clinic=small_clinic["clinic"], code="dr-new")
    RoomFactory(clinic=small_clinic["clinic"], code="r9")

    body = stats(call, day)

    assert [p["provider"] for p in body["providers"]] == ["dr-a", "dr-b", "dr-new"]
    assert "r9" in {r["room"] for r in body["rooms"]}


def test_the_answer_says_when_it_was_computed_in_clinic_time(small_clinic, call):
    day = small_clinic["day"]
    at = dt.datetime(2026, 11, 2, 7, 30, tzinfo=dt.UTC)
    jobs.compute_stats(day, now=at)

    body = stats(call, day)

    assert body["computed_at"] == at.astimezone(small_clinic["clinic"].tz).isoformat(timespec="seconds")

"""No-shows are marked only for appointments that ended within the clinic's look-back
(issue 10): history loaded from a clinic file, or visits of long ago after the job was
down, are left as they are and send no event."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.clinic_file import load_clinic_file
from clinic.models import Clinic
from clinic.tests.test_clinic_file import small
from notifications.models import OutboxEvent
from scheduling import jobs
from scheduling.models import Appointment, AppointmentStatus
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

BERLIN = dt.timezone(dt.timedelta(hours=1))  # 2027-03 is winter time in Berlin


@pytest.fixture(autouse=True)
def _no_hub(settings):
    settings.NOTIFICATION_HUB_URL = ""


def overdue_in_file() -> set[int]:
    # The small clinic file's booked or confirmed visits, all on Monday 2027-03-08.
    return set(Appointment.objects.filter(status__in=jobs.NO_SHOW_FROM).values_list("pk", flat=True))


def test_visits_loaded_from_a_clinic_file_long_ago_are_left_alone():
    load_clinic_file(small())
    loaded = overdue_in_file()
    assert len(loaded) == 4

    run = jobs.mark_no_shows_counted(dt.datetime(2027, 3, 20, 9, tzinfo=BERLIN))

    assert (run.marked, run.skipped) == ([], 4)
    assert overdue_in_file() == loaded
    assert not OutboxEvent.objects.filter(event_type="appointment.no_show").exists()


def test_visits_that_ended_within_the_look_back_are_marked():
    load_clinic_file(small())
    loaded = overdue_in_file()

    # Two days after 09:00 that Monday: every one of them ended since.
    run = jobs.mark_no_shows_counted(dt.datetime(2027, 3, 10, 9, tzinfo=BERLIN))

    assert (set(run.marked), run.skipped) == (loaded, 0)
    assert OutboxEvent.objects.filter(event_type="appointment.no_show").count() == 4


def test_the_look_back_is_the_clinics_setting_measured_from_each_end(clinic):
    assert Clinic._meta.get_field("no_show_lookback_days").default == 2
    start = dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC)
    old = AppointmentFactory(clinic=clinic, start=start, end=start + dt.timedelta(minutes=30))
    now = old.end + dt.timedelta(days=2)

    assert jobs.mark_no_shows(now + dt.timedelta(seconds=1)) == []
    assert jobs.mark_no_shows(now) == [old.pk]  # ended exactly two days ago: still within

    clinic.no_show_lookback_days = 7
    clinic.save()
    older = AppointmentFactory(
        clinic=clinic, start=start - dt.timedelta(days=5), end=start - dt.timedelta(days=5, minutes=-30)
    )
    assert jobs.mark_no_shows(now) == [older.pk]
    older.refresh_from_db()
    assert older.status == AppointmentStatus.NO_SHOW


def test_the_job_says_how_many_it_marked_and_skipped(clinic):
    start = dt.datetime(2020, 3, 1, 9, tzinfo=dt.UTC)
    AppointmentFactory(clinic=clinic, start=start, end=start + dt.timedelta(minutes=30))

    assert jobs.mark_no_shows_job() == (
        "marked 0 appointment(s) as no-show; skipped 1 that ended before the clinic's look-back"
    )

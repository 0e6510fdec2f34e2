"""The outbox sweep and the hourly jobs exist after ``migrate``, exactly once (issue 10):
a deployment that only migrates and starts still retries failed events."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models.signals import post_migrate
from django_q.models import Schedule

from notifications.apps import schedule_jobs_after_migrate
from notifications.management.commands.setup_schedules import JOBS

pytestmark = pytest.mark.django_db


def scheduled() -> list[tuple[str, str, str, int | None, int]]:
    return sorted(Schedule.objects.values_list("name", "func", "schedule_type", "minutes", "repeats"))


EXPECTED = sorted((job.name, job.func, job.schedule_type, job.minutes, -1) for job in JOBS)


def test_the_test_database_was_migrated_with_its_schedules():
    assert scheduled() == EXPECTED


def test_migrate_creates_missing_schedules_exactly_once():
    Schedule.objects.all().delete()

    call_command("migrate", verbosity=0, stdout=StringIO())
    call_command("migrate", verbosity=0, stdout=StringIO())

    assert scheduled() == EXPECTED


def test_the_handler_repairs_changed_and_duplicated_schedules_and_keeps_the_timetable():
    sweep = Schedule.objects.get(name="Deliver outbox events")
    Schedule.objects.filter(pk=sweep.pk).update(minutes=30)
    Schedule.objects.create(name="Mark no-shows", func="scheduling.jobs.mark_no_shows_job", schedule_type="D")
    next_run = sweep.next_run

    post_migrate.send(
        sender=apps.get_app_config("notifications"),
        app_config=apps.get_app_config("notifications"),
        verbosity=0,
        interactive=False,
        using="default",
        apps=apps,
        plan=[],
    )

    assert scheduled() == EXPECTED
    assert Schedule.objects.get(name="Deliver outbox events").next_run == next_run


def test_the_handler_says_what_it_changed():
    Schedule.objects.filter(name="Compute daily stats").delete()
    out = StringIO()

    schedule_jobs_after_migrate(apps.get_app_config("notifications"), using="default", stdout=out)

    assert out.getvalue() == "  Schedule created: Compute daily stats (hourly)\n"
    assert scheduled() == EXPECTED

"""Create or update the django-q2 schedules the engine relies on; safe to run again.

``migrate`` does the same (``notifications.apps``), so a deployment that only migrates has
its jobs; this command stays for repairs, e.g. after a schedule was deleted in the admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand
from django.db import DEFAULT_DB_ALIAS
from django_q.models import Schedule


@dataclass(frozen=True)
class Job:
    name: str
    func: str
    schedule_type: str
    minutes: int | None = None

    @property
    def cadence(self) -> str:
        if self.schedule_type == Schedule.MINUTES:
            return f"every {self.minutes} minute(s)"
        return dict(Schedule.TYPE)[self.schedule_type].lower()


JOBS = (
    Job("Mark no-shows", "scheduling.jobs.mark_no_shows_job", Schedule.HOURLY),
    Job("Compute daily stats", "scheduling.jobs.compute_stats_job", Schedule.HOURLY),
    Job(
        "Purge idempotency records",
        "scheduling.jobs.purge_idempotency_records_job",
        Schedule.HOURLY,
    ),
    Job(
        "Deliver outbox events",
        "notifications.delivery.sweep_outbox_job",
        Schedule.MINUTES,
        minutes=1,
    ),
    # A freed slot whose offers' hold ran out goes to the next waitlisted candidates.
    Job(
        "Offer freed slots to the next candidates",
        "offers.tasks.next_rounds_job",
        Schedule.MINUTES,
        minutes=1,
    ),
)


def ensure_schedules(using: str = DEFAULT_DB_ALIAS) -> list[tuple[str, Job]]:
    """Each job's schedule exactly once, as JOBS says: ``(verb, job)`` for each, the verb
    ``created``, ``updated`` or ``unchanged``."""
    done = []
    schedules = Schedule.objects.using(using)
    for job in JOBS:
        wanted = {
            "func": job.func,
            "schedule_type": job.schedule_type,
            "minutes": job.minutes,
            "repeats": -1,
        }
        # Names are unique only by convention in django-q2; keep the oldest, drop copies.
        existing = list(schedules.filter(name=job.name).order_by("pk"))
        for duplicate in existing[1:]:
            duplicate.delete(using=using)
        if not existing:
            schedules.create(name=job.name, **wanted)
            verb = "created"
        else:
            schedule = existing[0]
            changed = [k for k, v in wanted.items() if getattr(schedule, k) != v]
            # next_run is left alone: an update must not reset a running timetable.
            for key in changed:
                setattr(schedule, key, wanted[key])
            if changed:
                schedule.save(using=using, update_fields=changed)
            verb = "updated" if changed else "unchanged"
        done.append((verb, job))
    return done


class Command(BaseCommand):
    help = "Create or update the scheduled jobs (no-shows, stats, purges, outbox delivery, offers) by name."

    def handle(self, *args: Any, **options: Any) -> None:
        for verb, job in ensure_schedules():
            self.stdout.write(f"{verb}: {job.name} ({job.func}, {job.cadence})")

"""Create or update the django-q2 schedules the engine relies on; safe to run again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand
from django_q.models import Schedule


@dataclass(frozen=True)
class Job:
    name: str
    func: str
    schedule_type: str
    minutes: int | None = None


JOBS = (
    Job("Mark no-shows", "scheduling.jobs.mark_no_shows_job", Schedule.HOURLY),
    Job("Compute daily stats", "scheduling.jobs.compute_stats_job", Schedule.HOURLY),
    Job(
        "Deliver outbox events",
        "notifications.delivery.sweep_outbox_job",
        Schedule.MINUTES,
        minutes=1,
    ),
)


class Command(BaseCommand):
    help = "Create or update the scheduled jobs (no-shows, stats, outbox delivery) by name."

    def handle(self, *args: Any, **options: Any) -> None:
        for job in JOBS:
            wanted = {
                "func": job.func,
                "schedule_type": job.schedule_type,
                "minutes": job.minutes,
                "repeats": -1,
            }
            # Names are unique only by convention in django-q2; keep the oldest, drop copies.
            existing = list(Schedule.objects.filter(name=job.name).order_by("pk"))
            for duplicate in existing[1:]:
                duplicate.delete()
            if not existing:
                Schedule.objects.create(name=job.name, **wanted)
                verb = "created"
            else:
                schedule = existing[0]
                changed = [k for k, v in wanted.items() if getattr(schedule, k) != v]
                # next_run is left alone: an update must not reset a running timetable.
                for key in changed:
                    setattr(schedule, key, wanted[key])
                if changed:
                    schedule.save(update_fields=changed)
                verb = "updated" if changed else "unchanged"
            self.stdout.write(f"{verb}: {job.name} ({job.func}, {self._cadence(job)})")

    @staticmethod
    def _cadence(job: Job) -> str:
        if job.schedule_type == Schedule.MINUTES:
            return f"every {job.minutes} minute(s)"
        return dict(Schedule.TYPE)[job.schedule_type].lower()

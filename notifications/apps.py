from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        post_migrate.connect(schedule_jobs_after_migrate, sender=self)


def schedule_jobs_after_migrate(
    sender: AppConfig, *, using: str, verbosity: int = 1, stdout: Any = None, **kwargs: Any
) -> None:
    """After every ``migrate``, the outbox sweep and the hourly jobs exist exactly once
    (``setup_schedules`` does the same by hand). Without them a deployment that migrates
    and starts never retries a failed event, marks no no-show and computes no stats."""
    from django_q.models import Schedule

    from notifications.management.commands.setup_schedules import ensure_schedules

    if Schedule._meta.db_table not in connections[using].introspection.table_names():
        return  # django_q is not migrated (yet): the next migrate will do it
    for verb, job in ensure_schedules(using=using):
        if verb != "unchanged" and verbosity >= 1 and stdout is not None:
            stdout.write(f"  Schedule {verb}: {job.name} ({job.cadence})\n")

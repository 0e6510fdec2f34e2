"""Mark overdue appointments as no-shows now, as the hourly job does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from scheduling.jobs import mark_no_shows


class Command(BaseCommand):
    help = (
        "Mark booked or confirmed appointments that ended more than the clinic's grace "
        "period ago as no-shows (with history and an appointment.no_show event)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        marked = mark_no_shows(timezone.now())
        if marked:
            ids = ", ".join(f"#{pk}" for pk in marked)
            self.stdout.write(f"Marked {len(marked)} appointment(s) as no-show: {ids}")
        else:
            self.stdout.write("No appointments to mark as no-show.")

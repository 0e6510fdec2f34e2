"""Load the demo clinic (Riverside Family Practice) and a week of bookings around today."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from clinic.clinic_file import ClinicFileError
from clinic.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Load the demo clinic: 5 providers, 8 rooms, 3 kinds of equipment, 200 made-up "
        "patients and, unless this week has bookings already, a week of them. Safe to rerun."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Made-up patients and bookings belong in a development database, never a clinic's.
        if not settings.DEBUG:
            raise CommandError("seed_demo runs only with DEBUG=true (development and the demo).")
        try:
            result = seed_demo(progress=self.stderr.write)
        except ClinicFileError as exc:  # the demo data itself is broken: a bug
            for problem in exc.problems:
                self.stderr.write(problem)
            raise CommandError("The demo clinic did not load; nothing was changed.") from exc

        for warning in result.report.warnings:
            self.stderr.write(f"warning: {warning}")
        for line in result.report.summary():
            self.stdout.write(line)
        week = result.week
        if week is None:
            self.stdout.write("This week already has bookings: added none.")
        else:
            self.stdout.write(
                f"Booked {week.appointments} appointments over {week.days} working days "
                f"({week.utilization:.0%} of the providers' working time; "
                f"{week.overbookings} overbookings, {week.cancelled} cancelled) "
                f"and {week.waitlist} waitlist entries."
            )

"""Compute the daily statistics snapshots now, as the hourly job does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from scheduling.jobs import compute_stats


class Command(BaseCommand):
    help = (
        "Store per-provider and per-room statistics for a local date (default: today and "
        "yesterday in each clinic's time zone) and the 90-day no-show rates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="Local date YYYY-MM-DD (default: today and yesterday).")

    def handle(self, *args: Any, **options: Any) -> None:
        day = None
        if options["date"]:
            try:
                day = dt.date.fromisoformat(options["date"])
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD, not {options['date']!r}.") from exc
        computed = compute_stats(day, now=timezone.now())
        if not computed:
            self.stdout.write("No clinics: nothing to compute.")
        for stats in computed:
            booked = sum(p.booked_minutes for p in stats.providers)
            available = sum(p.available_minutes for p in stats.providers)
            self.stdout.write(
                f"{stats.clinic.code} {stats.date}: {len(stats.providers)} provider(s), "
                f"{len(stats.rooms)} room(s), {booked} of {available} minutes booked, "
                f"{sum(p.appointments for p in stats.providers)} appointment(s), "
                f"{sum(p.cancellations for p in stats.providers)} cancellation(s), "
                f"{sum(p.no_shows for p in stats.providers)} no-show(s)"
            )

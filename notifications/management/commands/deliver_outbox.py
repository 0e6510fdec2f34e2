"""Deliver due outbox events once, as the every-minute sweep does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from notifications.delivery import sweep_outbox


class Command(BaseCommand):
    help = "Deliver every pending outbox event that is due to the notification hub, once."

    def handle(self, *args: Any, **options: Any) -> None:
        summary = sweep_outbox(timezone.now())
        self.stdout.write(str(summary))

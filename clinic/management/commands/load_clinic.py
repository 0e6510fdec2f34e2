"""Create or update a clinic from a clinic file (``-`` reads standard input)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.clinic_file import ClinicFileError, load_clinic_file


class Command(BaseCommand):
    help = "Load a clinic file (JSON): create or update the clinic it describes. Idempotent."
    # call_command(..., stdin=...) feeds "-" in tests.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The clinic file, or - for standard input.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: str = options["path"]
        try:
            if path == "-":
                text = (options.get("stdin") or sys.stdin).read()
            else:
                text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path}: not valid JSON: {exc}") from exc

        try:
            report = load_clinic_file(data, progress=self.stderr.write)
        except ClinicFileError as exc:
            for problem in exc.problems:
                self.stderr.write(problem)
            raise CommandError(f"{path}: {len(exc.problems)} problem(s); nothing was loaded.") from exc

        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        for line in report.summary():
            self.stdout.write(line)

"""Simulate a month of the clinic under four booking policies and compare them (issue 12).

    manage.py simulate [--days 20] [--seed 7] [--clinic FILE] [--json PATH] [--workers 2]
                       [--policy NAME]...

Prints the policy table (markdown) on stdout and progress per policy and day on stderr;
``--json PATH`` also writes the report there and the chart beside it (``PATH`` with
``.svg``). Each policy runs on a scratch clinic loaded from the clinic file (default: the
demo clinic), removed again afterwards, also when the run fails or is interrupted.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.demo import RIVERSIDE
from scheduling.simulation import PER_SESSION, POLICIES, SimulationError, simulate
from scheduling.simulation.report import markdown_table, svg_chart

CHOOSABLE = (*POLICIES, PER_SESSION)
MAX_DAYS = 250  # a working year; the demand's calendar is drawn in memory up front


def _interrupted(signum: int, frame: FrameType | None) -> None:
    # SIGTERM as an exception, so the scratch clinic's clean-up (a finally block) runs.
    raise KeyboardInterrupt(f"signal {signum}")


class Command(BaseCommand):
    help = "Simulate working days of a clinic under four booking policies on the same demand."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", default="20", help="Working days to simulate (default 20).")
        parser.add_argument("--seed", default="7", help="Seed of the demand (default 7).")
        parser.add_argument(
            "--clinic", default=str(RIVERSIDE), help="A clinic file (default: the demo clinic)."
        )
        parser.add_argument(
            "--json", dest="json_path", help="Write the report here, and the chart beside it (.svg)."
        )
        parser.add_argument(
            "--policy",
            action="append",
            dest="policies",
            choices=[p.name for p in CHOOSABLE],
            help="Simulate only this policy (repeatable; default the four compared). "
            f"{PER_SESSION.name} is the desk capping overbooked patients per session.",
        )
        parser.add_argument(
            "--workers",
            default="2",
            help="Policies simulated side by side, each in its own process (default 2).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = self._integer(options["days"], "--days", low=1, high=MAX_DAYS)
        seed = self._integer(options["seed"], "--seed", low=0, high=2**63 - 1)
        workers = self._integer(options["workers"], "--workers", low=1, high=4)
        chosen = options["policies"] or [p.name for p in POLICIES]
        policies = tuple(p for p in CHOOSABLE if p.name in chosen)
        data = self._clinic_file(options["clinic"])
        json_path = Path(options["json_path"]) if options["json_path"] else None
        if json_path is not None and not json_path.parent.is_dir():
            raise CommandError(f"--json: the folder {json_path.parent} does not exist.")
        if json_path is not None and json_path.suffix == ".svg":
            raise CommandError(
                "--json: the chart is written beside the JSON as .svg; name the JSON otherwise."
            )

        started = time.monotonic()
        previous = signal.signal(signal.SIGTERM, _interrupted)
        try:
            report = simulate(
                data, days=days, seed=seed, progress=self.stderr.write, workers=workers, policies=policies
            )
        except SimulationError as exc:
            for problem in exc.problems:
                self.stderr.write(problem)
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt as exc:
            raise CommandError("Interrupted; the scratch clinics were removed.", returncode=130) from exc
        finally:
            signal.signal(signal.SIGTERM, previous)
        self.stderr.write(
            f"simulated {days} day(s) x {len(report['policies'])} policies"
            f" in {time.monotonic() - started:.1f} s"
        )

        if json_path is not None:
            json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            svg_path = json_path.with_suffix(".svg")
            svg_path.write_text(svg_chart(report), encoding="utf-8")
            self.stderr.write(f"wrote {json_path} and {svg_path}")
        self.stdout.write(markdown_table(report))

    def _integer(self, raw: str, name: str, *, low: int, high: int) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise CommandError(f"{name}: {raw!r} is not a whole number.") from None
        if not low <= value <= high:
            raise CommandError(f"{name}: {value} is out of range ({low}..{high}).")
        return value

    def _clinic_file(self, path: str) -> dict[str, Any]:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"--clinic {path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--clinic {path}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("clinic"), dict):
            raise CommandError(f'--clinic {path}: not a clinic file (no "clinic" object at the top).')
        return data

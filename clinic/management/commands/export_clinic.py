"""Write a clinic as a clinic file: the format ``load_clinic`` reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import services as audit
from audit.models import AuditAction, AuditDoor
from clinic.clinic_file import export_clinic
from clinic.models import Clinic


class Command(BaseCommand):
    help = "Export a clinic as a clinic file (JSON), to PATH or standard output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="Where to write; standard output if omitted.")
        parser.add_argument("--clinic", metavar="CODE", help="Needed when there are several clinics.")

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = self._clinic(options["clinic"])
        exported = export_clinic(clinic)
        text = json.dumps(exported, indent=2, ensure_ascii=False) + "\n"
        if options["path"]:
            Path(options["path"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote clinic {clinic.code} to {options['path']}")
        else:
            self.stdout.write(text, ending="")
        patients = len(exported.get("patients", []))
        audit.record(
            user=None,
            action=AuditAction.EXPORT,
            door=AuditDoor.COMMAND,
            clinic=clinic,
            detail=f"clinic file with {patients} patient{'' if patients == 1 else 's'}",
        )

    def _clinic(self, code: str | None) -> Clinic:
        if code:
            clinic = Clinic.objects.filter(code=code).first()
            if clinic is None:
                raise CommandError(f"No clinic with code {code!r}.")
            return clinic
        codes = list(Clinic.objects.order_by("code").values_list("code", flat=True)[:20])
        if not codes:
            raise CommandError("There is no clinic to export.")
        if len(codes) > 1:
            raise CommandError(f"Several clinics ({', '.join(codes)}): choose one with --clinic CODE.")
        return Clinic.objects.get(code=codes[0])

"""The clinic file (``/work/shared/spec/clinic-file.md``): one JSON document describing a
whole clinic. ``parse`` validates it into plain dataclasses without touching the database;
``apply`` writes it in one transaction; ``export`` reads a clinic back into the same shape.
"""

from __future__ import annotations

from typing import Any

from clinic.clinic_file.apply import ClinicFileError, LoadReport, Progress, Tally, apply_clinic_file
from clinic.clinic_file.export import export_clinic, format_datetime
from clinic.clinic_file.parse import parse_clinic_file
from clinic.clinic_file.spec import ClinicFile, ParseResult


def load_clinic_file(data: Any, *, progress: Progress | None = None) -> LoadReport:
    """Validate and load a decoded clinic file; raises ``ClinicFileError`` with every
    problem (and loads nothing) if it has any."""
    parsed = parse_clinic_file(data)
    if parsed.file is None:
        raise ClinicFileError(parsed.errors)
    return apply_clinic_file(parsed.file, warnings=parsed.warnings, progress=progress)


__all__ = [
    "ClinicFile",
    "ClinicFileError",
    "LoadReport",
    "ParseResult",
    "Tally",
    "apply_clinic_file",
    "export_clinic",
    "format_datetime",
    "load_clinic_file",
    "parse_clinic_file",
]

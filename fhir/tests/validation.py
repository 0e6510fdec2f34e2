"""Every resource the server answers, checked against the FHIR models of ``fhir.resources``.

``fhir.resources`` ships FHIR R4 (4.0.1) models only in its releases up to 6.1, which need
pydantic 1; this project runs on pydantic 2 (django-ninja), so those cannot be installed
beside it. Its R4B (4.3.0) models are used instead: R4B changed none of the resources this
server answers (Appointment, Slot, Schedule, Practitioner, Location, HealthcareService,
Patient, Bundle, CapabilityStatement, OperationOutcome) except for additions this server
does not use. Beyond the models' own checks: ids as FHIR defines them (at most 64 of
``A-Z a-z 0-9 - .``) and the coded statuses this server answers.
"""

from __future__ import annotations

import re
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
CODES = {
    ("Slot", "status"): {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"},
    ("Appointment", "status"): {
        "proposed",
        "pending",
        "booked",
        "arrived",
        "fulfilled",
        "cancelled",
        "noshow",
        "entered-in-error",
        "checked-in",
        "waitlist",
    },
    ("Bundle", "type"): {"searchset"},
    ("Location", "status"): {"active", "suspended", "inactive"},
    ("Location", "mode"): {"instance", "kind"},
    ("CapabilityStatement", "status"): {"draft", "active", "retired", "unknown"},
}
# Resource types the checks have seen, so a test can say every kind was checked.
SEEN: set[str] = set()


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` (and a Bundle's entries), validated; returned for chaining."""
    kind = resource["resourceType"]
    get_fhir_model_class(kind).model_validate(resource)
    SEEN.add(kind)
    if "id" in resource:
        assert FHIR_ID.fullmatch(resource["id"]), resource["id"]
    for (of, field), allowed in CODES.items():
        if of == kind and field in resource:
            assert resource[field] in allowed, (kind, field, resource[field])
    if kind == "Appointment":
        for participant in resource.get("participant", []):
            assert participant["status"] in {"accepted", "declined", "tentative", "needs-action"}
    for entry in resource.get("entry", []) if kind == "Bundle" else []:
        valid(entry["resource"])
        assert entry["fullUrl"].endswith(f"/{entry['resource']['resourceType']}/{entry['resource']['id']}")
    return resource

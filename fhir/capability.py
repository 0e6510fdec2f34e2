"""``GET /fhir/metadata``: the CapabilityStatement, what this server does.

It is public, as FHIR servers' ``metadata`` usually is (a client reads it before it has a
token, to learn how to talk to the server): it names no clinic and no data, only the
interactions and search parameters below.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from fhir.door import base_url, fhir_response
from fhir.ids import BULK_PUBLISH_DEFINITION

# Bumped when what this statement says changes.
STATEMENT_DATE = "2026-11-29"
READ_SEARCH = ("read", "search-type")
PAGING = "Pages with _count (at most 1000) and _offset; the Bundle's next and previous links follow them."

# resource type, interactions, search parameters (name, type, documentation), what it is
RESOURCES: list[tuple[str, tuple[str, ...], list[tuple[str, str, str]], str]] = [
    (
        "Practitioner",
        READ_SEARCH,
        [
            ("_id", "token", "The provider's code."),
            ("identifier", "token", "The provider's code."),
            ("name", "string", "Starts a word of the name (:exact, :contains)."),
            ("active", "token", "Always true."),
        ],
        "The clinic's providers; the id is the provider's code.",
    ),
    (
        "Location",
        READ_SEARCH,
        [
            ("_id", "token", "A room's code, or Clinic for the clinic itself."),
            ("identifier", "token", "A room's code."),
            ("name", "string", "Starts a word of the name (:exact, :contains)."),
            ("partof", "reference", "Location/Clinic: the rooms."),
            ("active", "token", "Always true."),
        ],
        "Location/Clinic is the clinic; every other Location is one of its rooms, id its code.",
    ),
    (
        "HealthcareService",
        READ_SEARCH,
        [
            ("_id", "token", "The appointment type's code."),
            ("identifier", "token", "The appointment type's code."),
            ("name", "string", "Starts a word of the name (:exact, :contains)."),
            ("service-type", "token", "The appointment type's code."),
            ("active", "token", "Always true."),
        ],
        "The appointment types; the id is the type's code, which Slot's service-type takes.",
    ),
    (
        "Schedule",
        READ_SEARCH,
        [
            ("_id", "token", "The provider's code."),
            ("identifier", "token", "The provider's code."),
            ("actor", "reference", "Practitioner/<code>, or Location/Clinic (all)."),
            ("service-type", "token", "The providers who perform this appointment type."),
            ("active", "token", "Always true."),
        ],
        "One Schedule per provider, with the provider's code as its id.",
    ),
    (
        "Slot",
        READ_SEARCH,
        [
            ("service-type", "token", "Required: the appointment type's code (code or system|code)."),
            ("schedule", "reference", "Schedule/<provider code>: one provider's slots."),
            ("start", "date", "ge/gt/le/lt/eq; at most 31 days apart; without one, a week from today."),
            ("status", "token", "free (only free slots are published; other statuses match nothing)."),
        ],
        "Free slots computed live by the engine, in its ranked order (best first). The id names "
        "the provider, room, type, start and seat; POST an Appointment with it to book. The room "
        "is the slot-room extension.",
    ),
    (
        "Appointment",
        ("read", "search-type", "create", "update", "patch"),
        [
            ("_id", "token", "The appointment's number."),
            ("patient", "reference", "Patient/<code>."),
            ("actor", "reference", "Patient/, Practitioner/ or Location/<code>."),
            ("practitioner", "reference", "Practitioner/<code>."),
            ("location", "reference", "Location/<room code>."),
            ("date", "date", "The start: ge/gt/le/lt/eq."),
            ("status", "token", "booked, checked-in (or arrived), fulfilled, cancelled, noshow."),
            ("service-type", "token", "The appointment type's code."),
            ("slot", "reference", "Slot/<id>: the appointment that holds that slot."),
        ],
        "Create: status booked, one slot, one Patient participant (409 if the slot was taken). "
        "Update (PUT) or patch (JSON Patch) the status: cancelled (with cancelationReason), "
        "checked-in, fulfilled, noshow; the Patient participant's status accepted confirms a "
        "booked appointment. booked = booked (patient needs-action) or confirmed (patient accepted).",
    ),
    (
        "Patient",
        READ_SEARCH,
        [
            ("_id", "token", "The patient's code."),
            ("identifier", "token", "The patient's code."),
            ("name", "string", "Starts the first or last name (:exact, :contains)."),
            ("family", "string", "Starts the last name."),
            ("given", "string", "Starts the first name."),
            ("birthdate", "date", "ge/gt/le/lt/eq."),
            ("active", "token", "Always true."),
        ],
        "The clinic's patients; the id is the patient's code. Every read and search is audited.",
    ),
]


def metadata(request: HttpRequest) -> HttpResponse:
    base = base_url(request)
    resources: list[dict[str, Any]] = []
    for resource_type, interactions, params, documentation in RESOURCES:
        resources.append(
            {
                "type": resource_type,
                "documentation": documentation,
                "interaction": [{"code": code} for code in interactions],
                "versioning": "no-version",
                "readHistory": False,
                "updateCreate": False,
                "searchParam": [
                    {"name": name, "type": kind, "documentation": words} for name, kind, words in params
                ]
                + [
                    {"name": "_count", "type": "number", "documentation": PAGING},
                    {"name": "_offset", "type": "number", "documentation": PAGING},
                ],
            }
        )
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STATEMENT_DATE,
        "publisher": "Clinic scheduling engine",
        "kind": "instance",
        "software": {"name": "Clinic scheduling engine"},
        "implementation": {"description": "The clinic scheduling engine's FHIR door", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Authenticate as for the JSON API: Authorization: Bearer <API token>. "
                "Where a user works for several clinics, add ?clinic=<code> to every request. "
                "Errors are OperationOutcomes; their details.coding carries the JSON API's error code.",
                "security": {
                    "cors": False,
                    "description": "Bearer API tokens (manage.py create_api_token), scoped to the "
                    "user's clinic and role exactly as the JSON API.",
                },
                "resource": resources,
                "operation": [
                    {
                        "name": "bulk-publish",
                        "definition": BULK_PUBLISH_DEFINITION,
                        "documentation": "SMART Scheduling Links: GET [base]/$bulk-publish gives the "
                        "manifest of NDJSON files (Locations, Schedules, and free Slots of each type for "
                        "the next four weeks, each with a booking-deep-link).",
                    }
                ],
            }
        ],
    }
    return fhir_response(statement)

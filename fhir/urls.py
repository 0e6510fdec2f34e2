"""The FHIR door's URLs under /fhir/: every answer, even to a path that is not here, is
FHIR JSON (an OperationOutcome for a refusal)."""

from django.urls import URLPattern, URLResolver, path, re_path

from fhir import appointments, bulk, capability, directory, slots
from fhir.door import endpoint, not_found

app_name = "fhir"

EVERY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ID = r"(?P<fhir_id>[A-Za-z0-9\-.]{1,64})"


def resource(name: str, search: dict, read: dict) -> list[URLPattern]:  # type: ignore[type-arg]
    return [
        re_path(rf"^{name}$", endpoint(search), name=name.lower() + "s"),
        re_path(rf"^{name}/{ID}$", endpoint(read), name=name.lower()),
    ]


urlpatterns: list[URLPattern | URLResolver] = [
    path("metadata", endpoint({"GET": capability.metadata}, public=True), name="metadata"),
    *resource("Practitioner", {"GET": directory.practitioner_search}, {"GET": directory.practitioner_read}),
    *resource("Location", {"GET": directory.location_search}, {"GET": directory.location_read}),
    *resource("HealthcareService", {"GET": directory.service_search}, {"GET": directory.service_read}),
    *resource("Schedule", {"GET": directory.schedule_search}, {"GET": directory.schedule_read}),
    *resource("Patient", {"GET": directory.patient_search}, {"GET": directory.patient_read}),
    re_path(r"^Slot$", endpoint({"GET": slots.search}), name="slots"),
    re_path(r"^Slot/(?P<slot_id>[A-Za-z0-9\-.]{1,64})$", endpoint({"GET": slots.read}), name="slot"),
    *resource(
        "Appointment",
        {"GET": appointments.search, "POST": appointments.create},
        {"GET": appointments.read, "PUT": appointments.update, "PATCH": appointments.patch},
    ),
    path("$bulk-publish", endpoint({"GET": bulk.manifest}), name="bulk-publish"),
    path("$bulk-publish/Location.ndjson", endpoint({"GET": bulk.locations}), name="bulk-locations"),
    path("$bulk-publish/Schedule.ndjson", endpoint({"GET": bulk.schedules}), name="bulk-schedules"),
    re_path(
        r"^\$bulk-publish/Slot-(?P<type_id>[A-Za-z0-9\-.]{1,64})\.ndjson$",
        endpoint({"GET": bulk.slots}),
        name="bulk-slots",
    ),
    # Anything else under /fhir/: a FHIR 404, whatever the method.
    re_path(r"^(?P<rest>.*)$", endpoint({method: not_found for method in EVERY_METHOD}, public=True)),
]

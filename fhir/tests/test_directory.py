"""The CapabilityStatement, and Practitioner, Location, HealthcareService, Schedule and
Patient: read, search and paging over HTTP, each resource validated."""

from __future__ import annotations

import pytest

from audit.models import AuditAction, AuditRecord
from clinic.models import Membership, Provider
from clinic.tests.factories import ClinicFactory, PatientFactory, ProviderFactory, RoomFactory
from fhir.ids import APPOINTMENT_TYPE_SYSTEM, BASE
from fhir.tests.conftest import Fhir, entries, issue_code
from fhir.tests.validation import valid

pytestmark = pytest.mark.django_db(transaction=True)


def test_metadata_is_public_and_lists_every_resource_with_its_interactions(fhir_base):
    anonymous = Fhir(fhir_base, token=None)
    response = anonymous.get("metadata")
    anonymous.session.close()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    statement = valid(response.json())
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    assert set(by_type) == {
        "Practitioner",
        "Location",
        "HealthcareService",
        "Schedule",
        "Slot",
        "Appointment",
        "Patient",
    }
    assert {i["code"] for i in by_type["Appointment"]["interaction"]} == {
        "read",
        "search-type",
        "create",
        "update",
        "patch",
    }
    slot_params = {p["name"] for p in by_type["Slot"]["searchParam"]}
    assert {"service-type", "schedule", "start", "status", "_count"} <= slot_params
    assert {p["name"] for p in by_type["Appointment"]["searchParam"]} >= {
        "patient",
        "actor",
        "date",
        "status",
    }
    assert rest["operation"][0]["name"] == "bulk-publish"


def test_practitioners_read_and_search_by_name_identifier_and_id(fhir, small_clinic):
    Provider.objects.filter(code="dr-b").update(name="Dr. Sarah Chen")
    dr_a = valid(fhir.get("Practitioner/dr-a").json())
    assert dr_a["id"] == "dr-a"
    assert dr_a["identifier"] == [{"system": f"{BASE}/sid/provider", "value": "dr-a"}]

    def ids(params):
        bundle = valid(fhir.get("Practitioner", params).json())
        return [r["id"] for r in entries(bundle)]

    assert ids({}) == ["dr-a", "dr-b"]
    assert ids({"name": "chen"}) == ["dr-b"]  # a word of the name, any case
    assert ids({"name": "sarah"}) == ["dr-b"]
    assert ids({"name:exact": "Dr. Sarah Chen"}) == ["dr-b"]
    assert ids({"name:exact": "dr. sarah chen"}) == []
    assert ids({"name:contains": "ara"}) == ["dr-b"]
    assert ids({"identifier": f"{BASE}/sid/provider|dr-b"}) == ["dr-b"]
    assert ids({"identifier": "http://elsewhere.example/ids|dr-b"}) == []
    assert ids({"_id": "dr-a,dr-b"}) == ["dr-a", "dr-b"]
    assert ids({"active": "false"}) == []


def test_another_clinics_objects_are_not_found_and_match_nothing(fhir, small_clinic, desk):
    Membership.objects.create(user=desk, clinic=small_clinic["clinic"])
    hillside = ClinicFactory(code="hillside", name="Hillside")
    ProviderFactory(clinic=hillside, code="dr-hill")
    RoomFactory(clinic=hillside, code="hill-room")
    PatientFactory(clinic=hillside, code="p-hill")
    for path in ("Practitioner/dr-hill", "Schedule/dr-hill", "Location/hill-room", "Patient/p-hill"):
        response = fhir.get(path)
        assert response.status_code == 404, path
        assert issue_code(response) == "not_found"
        assert "Hillside" not in response.text
    assert fhir.get("Practitioner", {"_id": "dr-hill"}).json()["total"] == 0
    assert fhir.get("Patient", {"identifier": "p-hill"}).json()["total"] == 0


def test_locations_are_the_clinic_and_its_rooms(fhir, small_clinic):
    clinic = valid(fhir.get("Location/Clinic").json())
    assert clinic["name"] == small_clinic["clinic"].name
    assert clinic["physicalType"]["coding"][0]["code"] == "si"
    assert "address" not in clinic and "telecom" not in clinic
    small_clinic["clinic"].address = "Flussstrasse 4\n10115 Berlin"
    small_clinic["clinic"].email = "desk@riverside.example"
    small_clinic["clinic"].save()
    clinic = valid(fhir.get("Location/Clinic").json())
    assert clinic["address"]["line"] == ["Flussstrasse 4", "10115 Berlin"]
    assert clinic["telecom"] == [{"system": "email", "value": "desk@riverside.example"}]
    r3 = valid(fhir.get("Location/r3").json())
    assert r3["physicalType"]["coding"][0]["code"] == "ro"
    assert r3["partOf"]["reference"] == "Location/Clinic"
    assert "ECG" in r3["description"]

    everything = valid(fhir.get("Location").json())
    assert [r["id"] for r in entries(everything)] == ["Clinic", "r1", "r2", "r3"]
    rooms = valid(fhir.get("Location", {"partof": "Location/Clinic"}).json())
    assert [r["id"] for r in entries(rooms)] == ["r1", "r2", "r3"]
    page = fhir.get("Location", {"_count": 2, "_offset": 1}).json()
    assert [r["id"] for r in entries(page)] == ["r1", "r2"]
    assert page["total"] == 4


def test_healthcare_services_are_the_appointment_types(fhir, small_clinic):
    ecg = valid(fhir.get("HealthcareService/ecg").json())
    assert ecg["type"][0]["coding"][0] == {
        "system": APPOINTMENT_TYPE_SYSTEM,
        "code": "ecg",
        "display": "ECG check",
    }
    assert "30 minutes" in ecg["comment"] and "10 minutes' buffer after" in ecg["comment"]
    found = valid(
        fhir.get("HealthcareService", {"service-type": f"{APPOINTMENT_TYPE_SYSTEM}|consult"}).json()
    )
    assert [r["id"] for r in entries(found)] == ["consult"]
    assert valid(fhir.get("HealthcareService", {"name": "ecg"}).json())["total"] == 1


def test_schedules_one_per_provider_with_the_types_they_perform(fhir, small_clinic):
    consult = small_clinic["consult"]
    consult.providers.add(small_clinic["providers"][1])  # only dr-b performs consults now
    schedule = valid(fhir.get("Schedule/dr-a").json())
    assert schedule["actor"][0] == {"reference": "Practitioner/dr-a", "display": "Dr. Test 1"} or schedule[
        "actor"
    ][0]["reference"] == ("Practitioner/dr-a")
    assert [c["coding"][0]["code"] for c in schedule["serviceType"]] == ["ecg"]
    by_actor = valid(fhir.get("Schedule", {"actor": "Practitioner/dr-b"}).json())
    assert [r["id"] for r in entries(by_actor)] == ["dr-b"]
    assert [c["coding"][0]["code"] for c in entries(by_actor)[0]["serviceType"]] == ["consult", "ecg"]
    performing = valid(fhir.get("Schedule", {"service-type": "consult"}).json())
    assert [r["id"] for r in entries(performing)] == ["dr-b"]
    assert fhir.get("Schedule", {"service-type": "ecg"}).json()["total"] == 2


def test_patients_read_search_and_page_and_every_read_is_audited(fhir, small_clinic, desk):
    patient = small_clinic["patients"][0]
    found = valid(fhir.get(f"Patient/{patient.code}").json())
    assert found["name"][0]["family"] == patient.last_name
    assert {"system": "email", "value": patient.email} in found["telecom"]
    assert AuditRecord.objects.filter(patient=patient, action=AuditAction.VIEW, user=desk).count() == 1

    first = valid(fhir.get("Patient", {"_count": 8}).json())
    assert first["total"] == 20
    seen = [r["id"] for r in entries(first)]
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert "previous" not in links
    while "next" in links:
        page = valid(fhir.get(links["next"]).json())
        seen += [r["id"] for r in entries(page)]
        links = {link["relation"]: link["url"] for link in page["link"]}
        assert "previous" in links
    assert sorted(seen) == sorted(p.code for p in small_clinic["patients"])
    assert AuditRecord.objects.filter(action=AuditAction.SEARCH, user=desk).count() == 3

    by_family = valid(fhir.get("Patient", {"family": patient.last_name}).json())
    assert [r["id"] for r in entries(by_family)] == [patient.code]
    assert fhir.get("Patient", {"name": patient.first_name[:6]}).json()["total"] == 20  # "Testfi..."


def test_search_parameter_errors_are_400_operation_outcomes(fhir, small_clinic):
    for params in ({"_count": "lots"}, {"_count": 5000}, {"_offset": -1}, {"name:below": "x"}):
        response = fhir.get("Practitioner", params)
        assert response.status_code == 400, params
        assert valid(response.json())["issue"][0]["code"] == "invalid"
    response = fhir.get("Patient", {"birthdate": "yesterday"})
    assert response.status_code == 400


def test_every_kind_of_resource_the_server_answers_validates(fhir, small_clinic):
    """One of each, side by side: what the other tests check one kind at a time."""
    slot = entries(fhir.get("Slot", {"service-type": "consult", "start": f"ge{small_clinic['day']}"}).json())[
        0
    ]
    booked = fhir.post(
        "Appointment",
        {
            "resourceType": "Appointment",
            "status": "booked",
            "slot": [{"reference": f"Slot/{slot['id']}"}],
            "participant": [{"actor": {"reference": "Patient/p-1"}, "status": "accepted"}],
        },
    ).json()
    answers = [
        fhir.get("metadata").json(),
        fhir.get("Practitioner/dr-a").json(),
        fhir.get("Location/Clinic").json(),
        fhir.get("Location/r1").json(),
        fhir.get("HealthcareService/consult").json(),
        fhir.get("Schedule/dr-a").json(),
        fhir.get("Patient/p-1").json(),
        fhir.get(f"Slot/{slot['id']}").json(),
        fhir.get(f"Appointment/{booked['id']}").json(),
        fhir.get("Appointment").json(),
        fhir.get("Nothing").json(),
    ]
    kinds = {valid(answer)["resourceType"] for answer in answers}
    assert kinds == {
        "CapabilityStatement",
        "Practitioner",
        "Location",
        "HealthcareService",
        "Schedule",
        "Patient",
        "Slot",
        "Appointment",
        "Bundle",
        "OperationOutcome",
    }

"""The audit trail: a row for every view, search, export and change of a patient's data, through
each door that is wired, never naming the patient or the search; the admin only reads it."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit import services
from audit.models import AuditAction, AuditDoor, AuditRecord
from clinic.models import Patient
from clinic.tests.factories import PatientFactory
from scheduling.tests import conftest as scheduling_fixtures
from scheduling.tests.conftest import make_user

small_clinic = scheduling_fixtures.small_clinic  # the scheduling tests' clinic, shared

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
FIRST, LAST = "Ottilie", "Brennecke"


@pytest.fixture
def patient(small_clinic) -> Patient:
    return PatientFactory(clinic=small_clinic["clinic"], code="p-8001", first_name=FIRST, last_name=LAST)


@pytest.fixture
def desk_user(django_user_model):
    return make_user(django_user_model, "desk-audit", "front_desk")


@pytest.fixture
def desk_client(client, desk_user):
    client.force_login(desk_user)
    return client


def rows() -> list[tuple]:
    return list(
        AuditRecord.objects.order_by("pk").values_list(
            "action", "door", "user__username", "patient__code", "detail"
        )
    )


def assert_no_names() -> None:
    for record in AuditRecord.objects.all():
        assert FIRST not in record.detail and LAST not in record.detail, record.detail


def viewed_at_the_desk(user, patient: Patient) -> None:
    services.record(
        user=user, action=AuditAction.VIEW, door=AuditDoor.DESK, clinic=patient.clinic, patients=[patient]
    )


# --- The service -------------------------------------------------------------------------------


def test_one_row_per_patient_in_the_callers_clinic(small_clinic, desk_user):
    patients = small_clinic["patients"][:3]
    services.record(
        user=desk_user,
        action=AuditAction.VIEW,
        door=AuditDoor.API,
        clinic=small_clinic["clinic"],
        patients=patients,
    )

    assert sorted(AuditRecord.objects.values_list("patient__code", flat=True)) == sorted(
        p.code for p in patients
    )
    assert set(AuditRecord.objects.values_list("clinic", "user", "action", "door")) == {
        (small_clinic["clinic"].pk, desk_user.pk, "view", "api")
    }


def test_a_search_is_one_row_without_a_patient_with_its_result_count(small_clinic, desk_user):
    services.record_search(user=desk_user, door=AuditDoor.API, clinic=small_clinic["clinic"], found=1)

    assert rows() == [("search", "api", "desk-audit", None, "1 result")]


def test_an_anonymous_user_is_recorded_as_nobody(small_clinic, patient):
    from django.contrib.auth.models import AnonymousUser

    services.record(
        user=AnonymousUser(),
        action=AuditAction.VIEW,
        door=AuditDoor.API,
        clinic=small_clinic["clinic"],
        patients=[patient],
    )

    assert rows() == [("view", "api", None, "p-8001", "")]


def test_deleting_the_patient_keeps_the_record(small_clinic, desk_user, patient):
    viewed_at_the_desk(desk_user, patient)
    patient.delete()

    assert rows() == [("view", "desk", "desk-audit", None, "")]


# --- The front desk ------------------------------------------------------------------------------


def test_the_patient_page_records_a_view_of_that_patient(desk_client, patient):
    assert desk_client.get(f"/patients/{patient.code}/").status_code == 200
    assert desk_client.get(f"/patients/{patient.code}/", **HX).status_code == 200  # the record redrawn

    assert rows() == [("view", "desk", "desk-audit", "p-8001", "")] * 2


def test_an_unknown_patients_page_records_nothing(desk_client, small_clinic):
    assert desk_client.get("/patients/p-nobody/").status_code == 404
    assert rows() == []


def test_find_and_books_patient_search_records_the_count_not_the_text(desk_client, patient):
    body = desk_client.get("/patients/search/", {"q": LAST}, **HX).content.decode()
    desk_client.get("/patients/search/", {"q": "Zzyzx"}, **HX)
    desk_client.get("/patients/search/", {"q": "B"}, **HX)  # one letter: no search is run

    assert LAST in body
    assert rows() == [
        ("search", "desk", "desk-audit", None, "1 result"),
        ("search", "desk", "desk-audit", None, "0 results"),
    ]
    assert_no_names()


def test_the_waitlists_patient_search_records_the_count_not_the_text(desk_client, patient):
    hx = {**HX, "HTTP_HX_TARGET": "patient-results"}
    body = desk_client.get(reverse("desk:waitlist"), {"q": f"{FIRST} {LAST}"}, **hx).content.decode()

    assert LAST in body
    assert rows() == [("search", "desk", "desk-audit", None, "1 result")]
    assert_no_names()


def test_the_waitlist_page_itself_records_no_search(desk_client, patient):
    assert desk_client.get(reverse("desk:waitlist")).status_code == 200
    assert rows() == []


# --- The admin -----------------------------------------------------------------------------------


def patient_url(patient: Patient) -> str:
    return reverse("admin:clinic_patient_change", args=[patient.pk])


def test_opening_a_patient_in_the_admin_records_a_view(admin_client, patient):
    assert admin_client.get(patient_url(patient)).status_code == 200

    assert rows() == [("view", "admin", "admin", "p-8001", "")]


def test_saving_a_patient_in_the_admin_records_the_changed_fields_names(admin_client, patient):
    form = {
        "clinic": patient.clinic_id,
        "code": patient.code,
        "first_name": FIRST,
        "last_name": LAST,
        "phone": "+49 30 5550199",
        "email": "ottilie@example.org",
        "preferred_times": json.dumps(patient.preferred_times),
        "initial-preferred_times": json.dumps(patient.preferred_times),  # a callable default's hidden twin
    }
    response = admin_client.post(patient_url(patient), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert rows() == [("change", "admin", "admin", "p-8001", "phone, email")]
    assert_no_names()


def test_adding_a_patient_in_the_admin_records_a_creation(admin_client, small_clinic):
    form = {
        "clinic": small_clinic["clinic"].pk,
        "code": "p-new",
        "first_name": FIRST,
        "last_name": LAST,
        "preferred_times": "[]",
    }
    response = admin_client.post(reverse("admin:clinic_patient_add"), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert [r[:4] for r in rows()] == [("create", "admin", "admin", "p-new")]
    assert_no_names()


def test_the_admin_changelist_of_patients_records_nothing_by_itself(admin_client, patient):
    assert admin_client.get(reverse("admin:clinic_patient_changelist")).status_code == 200
    assert rows() == []


# --- The command ---------------------------------------------------------------------------------


def test_export_clinic_records_one_export_with_the_patient_count(small_clinic, patient, tmp_path: Path):
    target = tmp_path / "clinic.json"
    call_command("export_clinic", str(target), stderr=StringIO())
    exported = json.loads(target.read_text())

    assert rows() == [
        ("export", "command", None, None, f"clinic file with {len(exported['patients'])} patients")
    ]
    assert AuditRecord.objects.get().clinic == small_clinic["clinic"]


def test_export_clinic_to_standard_output_is_recorded_too(small_clinic):
    call_command("export_clinic", stdout=StringIO())

    assert [r[:2] for r in rows()] == [("export", "command")]


# --- The audit trail in the admin ----------------------------------------------------------------


@pytest.fixture
def trail(small_clinic, desk_user, patient):
    viewed_at_the_desk(desk_user, patient)
    services.record_search(user=desk_user, door=AuditDoor.DESK, clinic=small_clinic["clinic"], found=3)
    return AuditRecord.objects.order_by("pk")


def test_the_trail_is_listed_filtered_and_searched_by_patient_code_and_username(admin_client, trail):
    url = reverse("admin:audit_auditrecord_changelist")
    listing = admin_client.get(url).content.decode()

    assert "p-8001" in listing and "desk-audit" in listing and "3 results" in listing
    assert LAST not in listing  # the patient by code, not by name
    by_code = admin_client.get(url, {"q": "p-8001"}).context["cl"].result_list
    assert [r.pk for r in by_code] == [trail[0].pk]
    by_user = admin_client.get(url, {"q": "desk-audit"}).context["cl"].result_list
    assert len(by_user) == 2
    searches = (
        admin_client.get(url, {"action__exact": "search", "door__exact": "desk"}).context["cl"].result_list
    )
    assert [r.pk for r in searches] == [trail[1].pk]


def test_the_trail_is_read_only_in_the_admin(admin_client, trail):
    record = trail[0]
    change = reverse("admin:audit_auditrecord_change", args=[record.pk])
    page = admin_client.get(change)

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.get(reverse("admin:audit_auditrecord_add")).status_code == 403
    assert admin_client.post(change, {"detail": "rewritten"}).status_code == 403
    assert admin_client.get(reverse("admin:audit_auditrecord_delete", args=[record.pk])).status_code == 403
    bulk_delete = admin_client.post(
        reverse("admin:audit_auditrecord_changelist"),
        {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
    )
    assert bulk_delete.status_code in (200, 302)
    record.refresh_from_db()
    assert record.detail == "" and AuditRecord.objects.count() == 2

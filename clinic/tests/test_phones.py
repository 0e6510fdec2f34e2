"""Phones are stored in E.164 (``+49305550000``) whichever door they come through (the
API, the clinic file, the admin, the front desk), found in any formatting, sent to the
notification hub as stored, and shown grouped for people (issue 10)."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import pytest
from django.template import Context, Template
from django.urls import reverse

from audit.models import AuditAction, AuditRecord
from clinic.clinic_file import ClinicFileError, load_clinic_file, parse_clinic_file
from clinic.demo import RIVERSIDE
from clinic.models import Clinic, Patient
from clinic.selectors import patient_search
from clinic.tests.factories import PatientFactory
from clinic.tests.test_clinic_file import export, small
from desk.templatetags.phones import phone as shown
from notifications.models import OutboxEvent
from scheduling import services

pytestmark = pytest.mark.django_db

E164 = "+49305550000"


def with_phones(*phones: str) -> dict:
    data = small()
    for patient, number in zip(data["patients"], phones, strict=False):
        patient["phone"] = number
    return data


# --- the clinic file ----------------------------------------------------------------------


def test_the_clinic_file_stores_phones_in_e164():
    load_clinic_file(with_phones("+49 30 555-0000", "0049 (30) 555 0001", "", "+1 212 555 0199"))

    stored = dict(Patient.objects.values_list("code", "phone"))
    assert stored == {"p-1001": E164, "p-1002": "+49305550001", "p-1003": "", "p-1004": "+12125550199"}
    assert [p["phone"] for p in export()["patients"]] == [E164, "+49305550001", "", "+12125550199"]


def test_loading_a_formatted_file_twice_changes_nothing():
    data = with_phones("+49 30 555-0000")
    load_clinic_file(data)
    report = load_clinic_file(data)
    assert Patient.objects.get(code="p-1001").phone == E164
    assert not report.changed, report.summary()


@pytest.mark.parametrize("number", ["030 5550000", "5550000", "+49 30", "+0 30 5550000", "call me"])
def test_a_number_that_cannot_be_e164_is_an_error_with_its_json_path(number):
    errors = parse_clinic_file(with_phones("+49305550000", number)).errors
    assert len(errors) == 1 and errors[0].startswith(
        f"patients[1].phone: {json.dumps(number)} is not a phone"
    )
    assert "country code" in errors[0]
    with pytest.raises(ClinicFileError):
        load_clinic_file(with_phones("+49305550000", number))
    assert not Patient.objects.exists()


def test_the_demo_clinics_phones_are_stored_in_e164():
    load_clinic_file(json.loads(RIVERSIDE.read_text()))

    phones = list(Patient.objects.filter(clinic__code="riverside").values_list("phone", flat=True))
    assert len(phones) > 100
    assert all(p.startswith("+4930") and p[1:].isdigit() for p in phones), phones[:5]


# --- the admin ------------------------------------------------------------------------------


def admin_form(clinic: Clinic, **fields: str) -> dict[str, str]:
    return {
        "clinic": str(clinic.pk),
        "code": "p-ada",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "",
        "email": "",
        "preferred_days": "",
        "preferred_times": "[]",
        **fields,
    }


def test_the_admin_stores_phones_in_e164_and_keeps_its_audit(admin_client, clinic):
    response = admin_client.post(
        reverse("admin:clinic_patient_add"), admin_form(clinic, phone="+49 (30) 555-0000")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    patient = Patient.objects.get(code="p-ada")
    assert patient.phone == E164
    assert AuditRecord.objects.filter(patient=patient, action=AuditAction.CREATE).count() == 1

    response = admin_client.post(
        reverse("admin:clinic_patient_change", args=[patient.pk]),
        admin_form(clinic, phone="0049 30 555 0001"),
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.phone == "+49305550001"
    assert AuditRecord.objects.filter(patient=patient, action=AuditAction.CHANGE).count() == 1


def test_the_admin_refuses_a_number_without_its_country_code(admin_client, clinic):
    response = admin_client.post(reverse("admin:clinic_patient_add"), admin_form(clinic, phone="030 5550000"))
    assert response.status_code == 200
    assert "country code" in str(response.context["adminform"].form.errors["phone"])
    assert not Patient.objects.exists()


# --- search ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["+49 30 5550000", E164, "0049 30 555 0000", "+49 (30) 555-0000", "030 5550000", "555 0000", "5550000"],
)
def test_search_finds_a_phone_in_any_formatting(clinic, query):
    ada = PatientFactory(clinic=clinic, code="p-ada", first_name="Ada", last_name="Lovelace", phone=E164)
    PatientFactory(
        clinic=clinic, code="p-other", first_name="Other", last_name="Person", phone="+49305559999"
    )

    assert list(patient_search(clinic.pk, query)) == [ada]


def test_search_by_phone_still_needs_every_word_to_match(clinic):
    PatientFactory(clinic=clinic, code="p-ada", first_name="Ada", last_name="Lovelace", phone=E164)

    assert list(patient_search(clinic.pk, "Lovelace 5550000"))
    assert not list(patient_search(clinic.pk, "Hopper 5550000"))
    assert not list(patient_search(clinic.pk, "+49 30 5559999"))


def test_the_api_finds_a_phone_in_any_formatting(clinic, client, django_user_model):
    from clinic.models import ApiToken
    from scheduling.tests.conftest import make_user

    PatientFactory(clinic=clinic, code="p-ada", first_name="Ada", last_name="Lovelace", phone=E164)
    token = ApiToken.issue(make_user(django_user_model, "desk-phone"))[1]

    response = client.get(
        f"/api/v1/patients?{urlencode({'q': '+49 30 5550000'})}", HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert response.status_code == 200, response.content
    assert [p["code"] for p in response.json()] == ["p-ada"]


# --- events ---------------------------------------------------------------------------------


def test_events_carry_the_stored_e164_number(settings):
    settings.NOTIFICATION_HUB_URL = ""
    load_clinic_file(with_phones("+49 30 0000 1001"))
    clinic = Clinic.objects.get(code="riverside")
    patient = Patient.objects.get(code="p-1001")

    appointment = services.appointment_book(
        clinic=clinic,
        patient=patient,
        appointment_type=clinic.appointment_types.get(code="consult"),
        provider=clinic.providers.get(code="dr-okafor"),
        room=clinic.rooms.get(code="r2"),
        start=dt.datetime(2027, 3, 9, 11, tzinfo=clinic.tz),
        now=dt.datetime(2027, 3, 1, tzinfo=dt.UTC),
    )

    event = OutboxEvent.objects.get(appointment=appointment, event_type="appointment.booked")
    assert event.payload["patient"]["phone"] == "+493000001001"


# --- the front desk -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (E164, "+49 30 555 0000"),
        ("+493000001025", "+49 300 000 1025"),
        ("+12125551234", "+1 212 555 1234"),
        ("+3531234567", "+353 123 4567"),
        ("", ""),
        ("030 555", "030 555"),  # stored before phones were normalized: shown as it is
    ],
)
def test_the_desk_shows_phones_grouped_for_people(stored, expected):
    assert shown(stored) == expected
    rendered = Template("{% load phones %}{{ number|phone }}").render(Context({"number": stored}))
    assert rendered == expected


# --- phones stored before -------------------------------------------------------------------


def test_the_migration_stores_earlier_phones_in_e164_and_keeps_what_it_cannot(clinic):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("clinic.migrations.0006_patient_phones_e164")
    formatted = PatientFactory(clinic=clinic, code="p-1", phone="+49 30 0000 1025")
    international = PatientFactory(clinic=clinic, code="p-2", phone="0049 (30) 555-0000")
    national = PatientFactory(clinic=clinic, code="p-3", phone="030 5550000")
    none = PatientFactory(clinic=clinic, code="p-4", phone="")

    migration.to_e164(apps, None)

    stored = dict(Patient.objects.values_list("pk", "phone"))
    assert stored == {
        formatted.pk: "+493000001025",
        international.pk: E164,
        national.pk: "030 5550000",
        none.pk: "",
    }

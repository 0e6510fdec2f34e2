"""Patients through the API: preferences on create, contact fields and preferences by PATCH,
with the same error envelope as every other endpoint (api.md)."""

from __future__ import annotations

import json

import pytest

from clinic import services
from clinic.models import ApiToken, Patient
from clinic.tests.factories import PatientFactory, ProviderFactory
from scheduling.tests.conftest import make_user

pytestmark = pytest.mark.django_db

NEW = {"code": "p-new", "first_name": "Testa", "last_name": "Beispiel"}


@pytest.fixture
def providers(clinic):
    return [ProviderFactory(clinic=clinic, code=code) for code in ("dr-a", "dr-b")]


@pytest.fixture
def jonas(clinic, providers):
    patient = PatientFactory(
        clinic=clinic,
        code="p-1001",
        first_name="Jonas",
        phone="+49301234567",
        email="jonas@example.org",
        preferred_days=["mon"],
        preferred_times=[["08:00", "11:00"]],
    )
    patient.preferred_providers.set([providers[0]])
    return patient


def caller(client, django_user_model, role: str):
    token = ApiToken.issue(make_user(django_user_model, f"user-{role}", role))[1]

    def call(method: str, path: str, body=None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if body is not None:
            kwargs |= {"data": json.dumps(body), "content_type": "application/json"}
        return getattr(client, method)(path, **kwargs)

    return call


@pytest.fixture
def call(client, django_user_model):
    return caller(client, django_user_model, "front_desk")


def error(response) -> tuple[int, str, dict]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["details"]


def test_create_accepts_preferences_and_returns_them_in_order(call, providers):
    preferences = {
        "providers": ["dr-b", "dr-a"],
        "days": ["fri", "mon", "mon"],
        "times": [["14:00", "16:00"], ["08:00", "11:00"]],
    }

    created = call("post", "/api/v1/patients", {**NEW, "preferences": preferences})

    assert created.status_code == 201, created.content
    expected = {
        "providers": ["dr-a", "dr-b"],
        "days": ["mon", "fri"],
        "times": [["08:00", "11:00"], ["14:00", "16:00"]],
    }
    assert created.json()["preferences"] == expected
    assert call("get", "/api/v1/patients/p-new").json()["preferences"] == expected


def test_create_without_preferences_stores_none(call, clinic):
    created = call("post", "/api/v1/patients", {**NEW, "phone": "0049 30 555-0000"})

    assert created.status_code == 201
    assert created.json()["preferences"] == {"providers": [], "days": [], "times": []}
    assert created.json()["phone"] == "+49305550000"


@pytest.mark.parametrize(
    ("preferences", "status", "code", "details"),
    [
        ({"providers": ["dr-z"]}, 404, "not_found", {"field": "preferences.providers", "codes": ["dr-z"]}),
        (
            {"days": ["monday"]},
            422,
            "validation_error",
            {"fields": {"preferences.days": "'monday' is not a weekday key (mon .. sun)."}},
        ),
        (
            {"times": [["11:00", "08:00"]]},
            422,
            "validation_error",
            {"fields": {"preferences.times.0": 'A time range is ["HH:MM", "HH:MM"], the start first.'}},
        ),
        (
            {"times": [["8 am", "11:00"]]},
            422,
            "validation_error",
            {"fields": {"preferences.times.0": 'A time range is ["HH:MM", "HH:MM"], the start first.'}},
        ),
        (
            {"rooms": ["r1"]},
            422,
            "validation_error",
            {"fields": {"preferences.rooms": "Extra inputs are not permitted"}},
        ),
    ],
)
def test_create_refuses_bad_preferences_and_stores_nothing(
    call, providers, preferences, status, code, details
):
    response = call("post", "/api/v1/patients", {**NEW, "preferences": preferences})

    assert error(response) == (status, code, details)
    assert not Patient.objects.filter(code="p-new").exists()


def test_patch_changes_contact_fields_in_e164_and_leaves_the_rest(call, jonas):
    response = call(
        "patch", "/api/v1/patients/p-1001", {"phone": "+49 (30) 555-0000", "email": " jonas@example.com "}
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "code": "p-1001",
        "first_name": "Jonas",
        "last_name": jonas.last_name,
        "birth_date": None if jonas.birth_date is None else jonas.birth_date.isoformat(),
        "phone": "+49305550000",
        "email": "jonas@example.com",
        "preferences": {"providers": ["dr-a"], "days": ["mon"], "times": [["08:00", "11:00"]]},
    }
    jonas.refresh_from_db()
    assert (jonas.phone, jonas.email) == ("+49305550000", "jonas@example.com")


def test_patch_replaces_only_the_preference_lists_it_names(call, jonas):
    response = call(
        "patch", "/api/v1/patients/p-1001", {"preferences": {"days": ["wed", "tue"], "providers": ["dr-b"]}}
    )

    assert response.status_code == 200, response.content
    assert response.json()["preferences"] == {
        "providers": ["dr-b"],
        "days": ["tue", "wed"],
        "times": [["08:00", "11:00"]],
    }
    assert response.json()["phone"] == "+49301234567"


def test_patch_clears_with_empty_values(call, jonas):
    response = call(
        "patch",
        "/api/v1/patients/p-1001",
        {"phone": "", "preferences": {"providers": [], "days": [], "times": []}},
    )

    assert response.status_code == 200
    assert response.json()["phone"] == ""
    assert response.json()["preferences"] == {"providers": [], "days": [], "times": []}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"phone": "030 5550000", "email": "jonas@example.com"},
            (
                422,
                "validation_error",
                {
                    "fields": {
                        "phone": "Not a phone number with its country code:"
                        " write it as +49 30 5550000 or 0049 30 5550000."
                    }
                },
            ),
        ),
        (
            {"email": "not-an-address", "preferences": {"days": ["tue"]}},
            (422, "validation_error", {"fields": {"email": "Not an email address."}}),
        ),
        (
            {"phone": "+49 30 555", "email": "x@y", "preferences": {"times": [["09:00"]]}},
            (
                422,
                "validation_error",
                {"fields": {"preferences.times.0.1": "Field required"}},
            ),
        ),
        (
            {"first_name": "Jo"},
            (422, "validation_error", {"fields": {"first_name": "Extra inputs are not permitted"}}),
        ),
        (
            {"email": "jonas@example.com", "preferences": {"providers": ["dr-a", "dr-x"]}},
            (404, "not_found", {"field": "preferences.providers", "codes": ["dr-x"]}),
        ),
    ],
)
def test_patch_refuses_a_bad_field_and_changes_nothing(call, jonas, body, expected):
    before = call("get", "/api/v1/patients/p-1001").json()

    response = call("patch", "/api/v1/patients/p-1001", body)

    assert error(response) == expected
    assert call("get", "/api/v1/patients/p-1001").json() == before


def test_patch_of_an_unknown_patient_is_a_404(call, clinic):
    response = call("patch", "/api/v1/patients/p-none", {"email": "a@b.org"})

    assert error(response) == (404, "not_found", {})
    assert response.json()["error"]["message"] == "No patient with code 'p-none'."


def test_patch_needs_the_change_patient_permission(client, django_user_model, jonas):
    clinician = caller(client, django_user_model, "clinician")

    response = clinician("patch", "/api/v1/patients/p-1001", {"email": "a@b.org"})

    assert error(response)[:2] == (403, "forbidden")
    jonas.refresh_from_db()
    assert jonas.email == "jonas@example.org"


def test_patch_without_credentials_is_a_401(client, jonas):
    response = client.patch("/api/v1/patients/p-1001", data="{}", content_type="application/json")

    assert error(response)[:2] == (401, "unauthorized")


def test_the_openapi_schema_documents_patch_and_preferences(call):
    schema = call("get", "/api/v1/openapi.json").json()

    patch = schema["paths"]["/api/v1/patients/{code}"]["patch"]
    body = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][body]["properties"]) == {"phone", "email", "preferences"}
    assert "preferences" in schema["components"]["schemas"]["PatientIn"]["properties"]
    assert set(schema["components"]["schemas"]["PreferencesIn"]["properties"]) == {
        "providers",
        "days",
        "times",
    }


def test_the_service_is_one_durable_transaction(jonas):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        services.patient_update(patient=jonas, email="a@b.org")

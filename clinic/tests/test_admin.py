"""The admin as an operations tool: every page opens, and the append-only parts stay so."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import ApiToken, Closure, Membership, OverbookingRule, Provider, TimeOff
from clinic.tests.factories import (
    AppointmentTypeFactory,
    EquipmentFactory,
    PatientFactory,
    ProviderFactory,
    RoomFactory,
    WorkingHoursFactory,
)
from scheduling.models import (
    Appointment,
    AppointmentHistory,
    IdempotencyRecord,
    NoShowRate,
    ProviderDayStats,
    RoomDayStats,
)
from scheduling.tests.factories import AppointmentFactory, WaitlistEntryFactory

pytestmark = pytest.mark.django_db
OUR_APPS = {"clinic", "scheduling"}


@pytest.fixture
def objects(clinic, admin_user) -> dict[type[Model], Model]:
    """One saved object of every model the admin shows, keyed by model."""
    equipment = EquipmentFactory(clinic=clinic)
    room = RoomFactory(clinic=clinic)
    room.equipment.add(equipment)
    provider = ProviderFactory(clinic=clinic)
    appointment_type = AppointmentTypeFactory(clinic=clinic)
    appointment_type.required_equipment.add(equipment)
    appointment = AppointmentFactory(
        clinic=clinic, provider=provider, room=room, appointment_type=appointment_type
    )
    start = dt.datetime(2027, 3, 10, 8, 0, tzinfo=dt.UTC)
    day = start.date()
    found = [
        clinic,
        Closure.objects.create(clinic=clinic, date=dt.date(2027, 12, 24), reason="Holiday"),
        equipment,
        room,
        provider,
        WorkingHoursFactory(provider=provider),
        TimeOff.objects.create(provider=provider, start=start, end=start + dt.timedelta(hours=4)),
        appointment_type,
        OverbookingRule.objects.create(clinic=clinic, provider=provider, max_extra=1),
        appointment.patient,
        ApiToken.issue(admin_user)[0],
        Membership.objects.create(user=admin_user, clinic=clinic, provider=provider),
        appointment,
        AppointmentHistory.objects.create(
            appointment=appointment, actor=admin_user, action="booked", changes={}
        ),
        WaitlistEntryFactory(clinic=clinic, appointment_type=appointment_type),
        IdempotencyRecord.objects.create(
            user=admin_user,
            clinic=clinic,
            method="POST",
            key="k-1",
            path="/api/v1/appointments",
            fingerprint="0" * 64,
            status_code=201,
            body={"id": appointment.pk},
        ),
        ProviderDayStats.objects.create(
            clinic=clinic, provider=provider, date=day, available_minutes=480, computed_at=start
        ),
        RoomDayStats.objects.create(
            clinic=clinic, room=room, date=day, available_minutes=480, computed_at=start
        ),
        NoShowRate.objects.create(clinic=clinic, provider=provider, date=day, computed_at=start),
    ]
    return {type(obj): obj for obj in found}


def registered_models() -> list[type[Model]]:
    return [m for m in admin.site._registry if m._meta.app_label in OUR_APPS]


def url(model: type[Model], page: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def test_every_model_of_both_apps_is_registered(objects):
    assert set(registered_models()) == set(objects)


def test_every_changelist_and_change_page_opens(admin_client, objects):
    for model, obj in objects.items():
        assert admin_client.get(url(model, "changelist")).status_code == 200, model
        assert admin_client.get(url(model, "change", obj.pk)).status_code == 200, model


@pytest.mark.parametrize("query", ["", "?q=zzz", "?o=1", "?q=abc"])
def test_changelists_survive_searching_and_sorting(admin_client, objects, query):
    for model in objects:
        assert admin_client.get(url(model, "changelist") + query).status_code == 200, model


def test_add_pages_open_only_where_adding_by_hand_is_allowed(admin_client, objects):
    # Tokens come from create_api_token, appointments from the booking flow, the rest is
    # written by the system itself.
    refused = {
        ApiToken,
        Appointment,
        AppointmentHistory,
        IdempotencyRecord,
        ProviderDayStats,
        RoomDayStats,
        NoShowRate,
    }
    for model in objects:
        expected = 403 if model in refused else 200
        assert admin_client.get(url(model, "add")).status_code == expected, model


def test_provider_page_edits_working_hours_and_time_off_inline(admin_client, objects):
    provider = objects[Provider]
    content = admin_client.get(url(Provider, "change", provider.pk)).content.decode()

    assert 'name="working_hours-TOTAL_FORMS"' in content
    assert 'name="time_off-TOTAL_FORMS"' in content


def test_clinic_page_edits_closures_inline(admin_client, clinic):
    content = admin_client.get(url(type(clinic), "change", clinic.pk)).content.decode()

    assert 'name="closures-TOTAL_FORMS"' in content


def test_room_list_shows_its_equipment(admin_client, clinic):
    room = RoomFactory(clinic=clinic, name="Cardio room")
    room.equipment.add(EquipmentFactory(clinic=clinic, name="ECG machine"))

    content = admin_client.get(url(type(room), "changelist")).content.decode()

    assert "ECG machine" in content


def test_adding_a_provider_with_working_hours_through_the_admin(admin_client, clinic):
    response = admin_client.post(
        reverse("admin:clinic_provider_add"),
        {
            "clinic": clinic.pk,
            "code": "dr-new",
            "name": "Dr. New",
            "working_hours-TOTAL_FORMS": "1",
            "working_hours-INITIAL_FORMS": "0",
            "working_hours-0-weekday": "2",
            "working_hours-0-start": "08:00",
            "working_hours-0-end": "12:00",
            "time_off-TOTAL_FORMS": "0",
            "time_off-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    provider = clinic.providers.get(code="dr-new")
    assert [(w.weekday, w.start, w.end) for w in provider.working_hours.all()] == [
        (2, dt.time(8, 0), dt.time(12, 0))
    ]


@pytest.mark.parametrize("query", ["Lovelace", "p-ada", "555 0199", "ada@example"])
def test_patients_are_found_by_name_code_phone_and_email(admin_client, clinic, query):
    PatientFactory(
        clinic=clinic,
        code="p-ada",
        first_name="Ada",
        last_name="Lovelace",
        phone="+1 555 0199",
        email="ada@example.org",
    )
    PatientFactory(clinic=clinic, code="p-other", first_name="Other", last_name="Person")

    response = admin_client.get(reverse("admin:clinic_patient_changelist"), {"q": query})

    assert response.status_code == 200
    codes = [p.code for p in response.context["cl"].result_list]
    assert codes == ["p-ada"]


def test_appointment_list_queries_do_not_grow_with_rows(admin_client, clinic):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client.get(url(Appointment, "changelist"))
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) > 0
        return len(ctx.captured_queries)

    start = dt.datetime(2027, 3, 8, 8, 0, tzinfo=dt.UTC)
    AppointmentFactory(clinic=clinic, start=start)
    one = count_queries()
    for hour in range(1, 5):
        AppointmentFactory(clinic=clinic, start=start + dt.timedelta(hours=hour))

    assert count_queries() == one


def test_appointment_page_shows_history_read_only(admin_client, objects, admin_user):
    appointment = objects[Appointment]
    content = admin_client.get(url(Appointment, "change", appointment.pk)).content.decode()

    assert "booked" in content
    # Read-only inline: no editable history form fields, no "add another".
    assert 'name="history-0-action"' not in content
    assert 'name="history-TOTAL_FORMS"' in content


def test_appointment_admin_changes_only_the_note(admin_client, objects):
    appointment = objects[Appointment]
    original_start, original_status = appointment.start, appointment.status

    response = admin_client.post(
        url(Appointment, "change", appointment.pk),
        {
            "note": "Bring previous ECG",
            "status": "cancelled",
            "start": "2030-01-01 00:00:00",
            "history-TOTAL_FORMS": "1",
            "history-INITIAL_FORMS": "1",
            "history-0-id": str(objects[AppointmentHistory].pk),
            "history-0-appointment": str(appointment.pk),
        },
    )

    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.note == "Bring previous ECG"
    assert (appointment.start, appointment.status) == (original_start, original_status)


def test_appointment_history_admin_refuses_add_change_and_delete(admin_client, objects):
    entry = objects[AppointmentHistory]

    assert admin_client.get(url(AppointmentHistory, "add")).status_code == 403
    response = admin_client.post(url(AppointmentHistory, "change", entry.pk), {"action": "x"})
    assert response.status_code == 403
    assert admin_client.post(url(AppointmentHistory, "delete", entry.pk)).status_code == 403
    entry.refresh_from_db()
    assert entry.action == "booked"


def test_api_tokens_are_revoked_by_deleting_them(admin_client, objects):
    token = objects[ApiToken]

    response = admin_client.post(url(ApiToken, "delete", token.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_api_token_list_shows_prefix_not_hash(admin_client, objects):
    token = objects[ApiToken]

    content = admin_client.get(url(ApiToken, "changelist")).content.decode()

    assert token.prefix in content
    assert token.key_hash not in content


def test_adding_a_patient_with_preferences_through_the_admin(admin_client, clinic):
    provider = ProviderFactory(clinic=clinic)

    response = admin_client.post(
        reverse("admin:clinic_patient_add"),
        {
            "clinic": clinic.pk,
            "code": "p-new",
            "first_name": "Grace",
            "last_name": "Hopper",
            "preferred_providers": [provider.pk],
            "preferred_days": "mon,wed",
            "preferred_times": '[["08:00", "11:00"]]',
        },
    )

    assert response.status_code == 302
    patient = clinic.patients.get(code="p-new")
    assert patient.preferred_days == ["mon", "wed"]
    assert patient.preferred_times == [["08:00", "11:00"]]
    assert list(patient.preferred_providers.all()) == [provider]

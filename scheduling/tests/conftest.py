from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from clinic.models import ApiToken
from clinic.tests.factories import (
    AppointmentTypeFactory,
    EquipmentFactory,
    PatientFactory,
    ProviderFactory,
    RoomFactory,
    WorkingHoursFactory,
)


def next_weekday(weekday: int = 0, weeks: int = 1) -> dt.date:
    today = timezone.localdate()
    return today + dt.timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks)


@pytest.fixture
def small_clinic(clinic):
    """Two providers (Mon-Fri 08:00-12:00, 13:00-17:00), three rooms, two types, patients."""
    ecg = EquipmentFactory(clinic=clinic, code="ecg", name="ECG")
    rooms = [RoomFactory(clinic=clinic, code=f"r{i}") for i in (1, 2, 3)]
    rooms[2].equipment.add(ecg)
    providers = [ProviderFactory(clinic=clinic, code=c) for c in ("dr-a", "dr-b")]
    for p in providers:
        for weekday in range(5):
            WorkingHoursFactory(provider=p, weekday=weekday, start=dt.time(8), end=dt.time(12))
            WorkingHoursFactory(provider=p, weekday=weekday, start=dt.time(13), end=dt.time(17))
    consult = AppointmentTypeFactory(clinic=clinic, code="consult", name="Consultation", duration_minutes=30)
    ecg_type = AppointmentTypeFactory(
        clinic=clinic, code="ecg", name="ECG check", duration_minutes=30, buffer_after_minutes=10
    )
    ecg_type.required_equipment.add(ecg)
    patients = [PatientFactory(clinic=clinic, code=f"p-{i}") for i in range(1, 21)]
    return {
        "clinic": clinic,
        "rooms": rooms,
        "providers": providers,
        "consult": consult,
        "ecg": ecg_type,
        "patients": patients,
        "day": next_weekday(0),
    }


def make_user(django_user_model, name: str, role: str | None = "front_desk"):
    user = django_user_model.objects.create_user(name, is_staff=True)
    if role:
        if not Group.objects.filter(name=role).exists():
            # Transactional tests flush the tables the data migration filled.
            from django.contrib.auth.models import Permission
            from django.contrib.contenttypes.models import ContentType

            from clinic.roles import sync_role_groups

            sync_role_groups(Group, Permission, ContentType)
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def desk(django_user_model):
    return make_user(django_user_model, "frontdesk1")


@pytest.fixture
def desk_token(desk):
    return ApiToken.issue(desk)[1]


@pytest.fixture
def call(client, desk_token):
    """call(method, path, json_body=None, **headers) with the front desk's token."""

    def _call(method: str, path: str, body=None, token: str | None = None, **headers):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token or desk_token}", **headers}
        if body is not None:
            import json

            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method.lower())(path, **kwargs)

    return _call

from __future__ import annotations

import datetime as dt

import pytest

from clinic.tests.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory, RoomFactory
from notifications import delivery
from notifications.tests.hub import FakeHub
from scheduling.tests.factories import AppointmentFactory

API_KEY = "test-hub-key"


@pytest.fixture
def hub():
    server = FakeHub().start()
    yield server
    server.stop()


@pytest.fixture
def hub_settings(settings, hub):
    settings.NOTIFICATION_HUB_URL = hub.url
    settings.NOTIFICATION_HUB_API_KEY = API_KEY
    return settings


@pytest.fixture
def no_hub(settings):
    settings.NOTIFICATION_HUB_URL = ""
    return settings


@pytest.fixture
def sync_tasks(monkeypatch):
    """Run django-q2 tasks in the calling process, as ``Q_CLUSTER["sync"]`` would.

    django-q2 reads Q_CLUSTER once, into ``Conf``, at import; overriding the setting in a
    test changes nothing, so the flag is set where django-q2 looks.
    """
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def short_timeout(monkeypatch):
    """A hub that hangs costs the test half a second, not five."""
    monkeypatch.setattr(delivery, "HUB_TIMEOUT_SECONDS", 0.5)


@pytest.fixture
def appointment(clinic):
    """The appointment of the payload example in notifications.md."""
    patient = PatientFactory(
        clinic=clinic,
        code="p-1001",
        first_name="Jonas",
        last_name="Becker",
        email="jonas@example.org",
        phone="+49 30 1234567",
        birth_date=dt.date(1980, 5, 17),
    )
    return AppointmentFactory(
        clinic=clinic,
        patient=patient,
        appointment_type=AppointmentTypeFactory(
            clinic=clinic, code="ecg", name="ECG check", duration_minutes=30
        ),
        provider=ProviderFactory(clinic=clinic, code="dr-weber", name="Dr. Anna Weber"),
        room=RoomFactory(clinic=clinic, code="r1", name="Room 1"),
        start=dt.datetime(2027, 3, 8, 8, 0, tzinfo=dt.UTC),
        note="Private clinical note",
    )

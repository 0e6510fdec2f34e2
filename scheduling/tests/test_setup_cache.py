"""The setup kept in memory is never stale (scheduling/setup_cache.py, clinic migration 0008).

Every kind of setup change gives the clinic a new version in its own transaction; a search
after a change sees it, in the same process and in another one (a gunicorn worker that
had the old setup in memory); a rolled-back change or a clinic saved from a stale copy
cannot bring an old setup back.
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from clinic.models import (
    ApiToken,
    AppointmentType,
    Clinic,
    Closure,
    Equipment,
    OverbookingRule,
    Provider,
    Room,
    TimeOff,
    WorkingHours,
)
from clinic.tests.factories import EquipmentFactory, PatientFactory, ProviderFactory, RoomFactory
from scheduling import selectors, setup_cache
from scheduling.tests.conftest import make_user
from scheduling.tests.faults.servers import gunicorn


def version(clinic: Clinic) -> int:
    return Clinic.objects.values_list("setup_version", flat=True).get(pk=clinic.pk)


def starts(clinic: Clinic, day: dt.date, type_code: str = "consult", provider: str | None = None) -> set[str]:
    result = selectors.search_slots(
        clinic=clinic,
        appointment_type_code=type_code,
        date_from=day,
        date_to=day,
        now=timezone.now(),
        provider_code=provider,
    )
    return {f"{s.provider} {s.start.astimezone(clinic.tz):%H:%M}" for s in result.slots}


def _add_hours(c):
    WorkingHours.objects.create(provider=c["providers"][0], weekday=5, start=dt.time(9), end=dt.time(10))


def _move_hours(c):
    WorkingHours.objects.filter(provider=c["providers"][0], weekday=0, start=dt.time(8)).update(
        end=dt.time(11)
    )


def _drop_hours(c):
    WorkingHours.objects.filter(provider=c["providers"][0], weekday=0).delete()


def _time_off(c):
    start = timezone.make_aware(dt.datetime.combine(c["day"], dt.time(8)), c["clinic"].tz)
    TimeOff.objects.create(provider=c["providers"][0], start=start, end=start + dt.timedelta(hours=2))


def _closure(c):
    Closure.objects.create(clinic=c["clinic"], date=c["day"], reason="Inventory")


def _room(c):
    RoomFactory(clinic=c["clinic"], code="r9")


def _room_equipment(c):
    c["rooms"][0].equipment.add(EquipmentFactory(clinic=c["clinic"], code="xray", name="X-ray"))


def _room_equipment_removed(c):
    c["rooms"][2].equipment.clear()


def _equipment(c):
    EquipmentFactory(clinic=c["clinic"], code="otoscope", name="Otoscope")


def _equipment_renamed(c):
    Equipment.objects.filter(clinic=c["clinic"], code="ecg").update(code="ecg-2")


def _provider(c):
    ProviderFactory(clinic=c["clinic"], code="dr-c")


def _provider_renamed(c):
    Provider.objects.filter(pk=c["providers"][1].pk).update(code="dr-z")


def _type_duration(c):
    AppointmentType.objects.filter(pk=c["consult"].pk).update(duration_minutes=45)


def _type_providers(c):
    c["consult"].providers.add(c["providers"][0])


def _type_equipment(c):
    c["consult"].required_equipment.add(Equipment.objects.get(clinic=c["clinic"], code="ecg"))


def _overbooking_rule(c):
    OverbookingRule.objects.create(clinic=c["clinic"], max_extra=1)


def _room_deleted(c):
    Room.objects.filter(pk=c["rooms"][1].pk).delete()


CHANGES = [
    _add_hours,
    _move_hours,
    _drop_hours,
    _time_off,
    _closure,
    _room,
    _room_equipment,
    _room_equipment_removed,
    _equipment,
    _equipment_renamed,
    _provider,
    _provider_renamed,
    _type_duration,
    _type_providers,
    _type_equipment,
    _overbooking_rule,
    _room_deleted,
]


@pytest.mark.django_db
@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_every_kind_of_setup_change_gives_a_new_version(small_clinic, change):
    before = version(small_clinic["clinic"])
    change(small_clinic)
    assert version(small_clinic["clinic"]) > before


@pytest.mark.django_db
def test_other_clinics_and_patients_keep_the_version(small_clinic):
    other = Clinic.objects.create(code="other", name="Other", timezone="Europe/Berlin")
    theirs = version(other)
    ours = version(small_clinic["clinic"])
    _closure(small_clinic)
    assert version(other) == theirs
    # Patients are not setup: adding one does not throw the kept setup away.
    ours = version(small_clinic["clinic"])
    PatientFactory(clinic=small_clinic["clinic"], code="p-new")
    assert version(small_clinic["clinic"]) == ours


@pytest.mark.django_db
def test_a_search_after_a_change_sees_it_with_the_old_setup_in_memory(small_clinic):
    clinic, day = small_clinic["clinic"], small_clinic["day"]
    setup_cache.forget()
    before = starts(clinic, day)
    assert "dr-a 08:00" in before
    assert starts(clinic, day) == before  # the second search used the kept setup
    _time_off(small_clinic)
    after = starts(clinic, day)
    assert "dr-a 08:00" not in after and "dr-b 08:00" in after
    _closure(small_clinic)
    assert starts(clinic, day) == set()


@pytest.mark.django_db
def test_a_stale_copy_of_the_clinic_cannot_bring_an_old_version_back(small_clinic):
    stale = Clinic.objects.get(pk=small_clinic["clinic"].pk)
    _closure(small_clinic)
    changed = version(stale)
    stale.name = "Renamed from an old form"
    stale.save()
    assert version(stale) == changed


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_never_leaves_its_setup_behind(small_clinic):
    clinic, day = small_clinic["clinic"], small_clinic["day"]
    before = starts(clinic, day)

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        _closure(small_clinic)
        # Searched inside the transaction: that setup (closed) is now kept in memory.
        assert starts(clinic, day) == set()
        raise Undo
    # Another change commits; it must not reuse the rolled-back version's number.
    _time_off(small_clinic)
    after = starts(clinic, day)
    assert "dr-b 08:00" in after  # not closed: the rolled-back closure is gone
    assert "dr-a 08:00" not in after  # the committed time off counts
    assert "dr-a 08:00" in before


@pytest.mark.fault
@pytest.mark.django_db(transaction=True)
def test_hours_changed_here_are_seen_by_a_server_process_that_kept_the_old_setup(small_clinic, tmp_path):
    """Change hours in this process; search in a gunicorn worker that already searched."""
    day = small_clinic["day"]
    token = ApiToken.issue(make_user(get_user_model(), "desk-cache"))[1]
    headers = {"Authorization": f"Bearer {token}"}
    query = {
        "appointment_type": "consult",
        "date_from": day,
        "date_to": day,
        "provider": "dr-a",
        "limit": 1000,
    }

    def afternoon() -> list[str]:
        response = requests.get(f"{server.url}/api/v1/slots", params=query, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return [s["start"][11:16] for s in response.json()["slots"] if s["start"][11:16] >= "13:00"]

    with gunicorn(tmp_path, workers=1) as server:
        assert "16:30" in afternoon()
        assert "16:30" in afternoon()  # kept in the worker's memory now
        WorkingHours.objects.filter(provider=small_clinic["providers"][0], weekday=day.weekday()).filter(
            start=dt.time(13)
        ).update(end=dt.time(15))
        assert max(afternoon()) == "14:30"

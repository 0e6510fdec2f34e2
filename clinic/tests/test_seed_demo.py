"""seed_demo: the demo clinic and a valid, realistic week of bookings."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.test import override_settings

from clinic.clinic_file import export_clinic, parse_clinic_file
from clinic.demo import demo_week, riverside, seed_demo
from clinic.models import Clinic, Equipment, Patient, Provider, Room
from scheduling.models import ACTIVE_STATUSES, Appointment, WaitlistEntry

BERLIN = ZoneInfo("Europe/Berlin")
# A Wednesday late morning: the week runs Wednesday to Tuesday, and today has a past.
WEDNESDAY = dt.datetime(2027, 3, 10, 11, 5, tzinfo=BERLIN)


def run_seed_demo() -> str:
    out = StringIO()
    with override_settings(DEBUG=True):  # the command refuses to run without DEBUG
        call_command("seed_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def working_minutes(clinic: Clinic, days: set[dt.date]) -> int:
    total = 0
    for provider in Provider.objects.filter(clinic=clinic).prefetch_related("working_hours"):
        for day in days:
            for w in provider.working_hours.all():
                if w.weekday == day.weekday():
                    start = dt.datetime.combine(day, w.start, tzinfo=BERLIN)
                    total += int(
                        (dt.datetime.combine(day, w.end, tzinfo=BERLIN) - start).total_seconds() // 60
                    )
    return total


def utilization(clinic: Clinic, today: dt.date) -> float:
    """Regular (seat 0) booked time, cancellations excepted, over the providers' working
    time in today and the next six days."""
    closures = set(clinic.closures.values_list("date", flat=True))
    days = {today + dt.timedelta(days=n) for n in range(7)} - closures
    booked = sum(
        (a.end - a.start).total_seconds() // 60
        for a in Appointment.objects.filter(clinic=clinic, seat=0).exclude(status="cancelled")
    )
    return booked / working_minutes(clinic, days)


def assert_no_overlaps(clinic: Clinic) -> None:
    by_resource = defaultdict(list)
    for a in Appointment.objects.filter(clinic=clinic, status__in=[s.value for s in ACTIVE_STATUSES]):
        by_resource["provider", a.provider_id, a.seat].append((a.blocked_start, a.blocked_end))
        by_resource["room", a.room_id, a.seat].append((a.blocked_start, a.blocked_end))
        by_resource["patient", a.patient_id].append((a.start, a.end))
    for key, spans in by_resource.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end <= start, key


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_clinic_and_a_week_of_bookings():
    out = run_seed_demo()

    clinic = Clinic.objects.get(code="riverside")
    assert clinic.timezone == "Europe/Berlin"
    assert Provider.objects.filter(clinic=clinic).count() == 5
    assert Room.objects.filter(clinic=clinic).count() == 8
    assert set(Equipment.objects.filter(clinic=clinic).values_list("code", flat=True)) == {
        "ecg",
        "ultrasound",
        "bp_monitor",
    }
    assert 180 <= Patient.objects.filter(clinic=clinic).count() <= 220
    assert Appointment.objects.filter(clinic=clinic).count() > 300
    assert Appointment.objects.filter(clinic=clinic, seat__gt=0).exists()
    assert WaitlistEntry.objects.filter(clinic=clinic).count() == 10
    assert 0.6 <= utilization(clinic, dt.datetime.now(BERLIN).date()) <= 0.8
    assert "Booked" in out


@pytest.mark.django_db
def test_the_demo_week_breaks_no_rule():
    seed_demo(now=WEDNESDAY)
    clinic = Clinic.objects.get(code="riverside")

    assert_no_overlaps(clinic)
    # Read back as a clinic file, it passes every check: no overlap (errors), and on the
    # grid, inside one window, the room's equipment, an allowed provider (warnings).
    result = parse_clinic_file(export_clinic(clinic))
    assert result.errors == ()
    assert result.warnings == ()


@pytest.mark.django_db
def test_today_has_a_past():
    seed_demo(now=WEDNESDAY)

    today = Appointment.objects.filter(start__date=WEDNESDAY.date())
    statuses = set(today.values_list("status", flat=True))
    assert {"completed", "checked_in"} <= statuses
    assert not today.filter(end__lte=WEDNESDAY, status__in=["booked", "confirmed"]).exists()
    assert not Appointment.objects.filter(start__gt=WEDNESDAY, status__in=["completed", "no_show"]).exists()
    assert 0.6 <= utilization(Clinic.objects.get(code="riverside"), WEDNESDAY.date()) <= 0.8


@pytest.mark.django_db
def test_seed_demo_twice_adds_nothing_the_second_time():
    run_seed_demo()
    appointments = Appointment.objects.count()

    out = run_seed_demo()

    assert "already has bookings" in out
    assert Appointment.objects.count() == appointments
    assert Patient.objects.count() == 200


def test_the_demo_week_is_deterministic():
    first, stats = demo_week(riverside(), now=WEDNESDAY)
    again, _ = demo_week(riverside(), now=WEDNESDAY)

    assert first == again
    assert stats.days == 5
    assert 0.6 <= stats.utilization <= 0.8


def test_demo_patients_are_obviously_made_up():
    for patient in riverside()["patients"]:
        assert patient["email"].endswith("@example.org")
        assert patient["phone"].startswith("+49 30 0000 ")

"""The scheduled jobs: marking no-shows, and the daily statistics (checked against numbers
worked out by hand)."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from clinic.models import Closure, TimeOff
from clinic.tests.factories import (
    AppointmentTypeFactory,
    ClinicFactory,
    ProviderFactory,
    RoomFactory,
    WorkingHoursFactory,
)
from notifications.models import OutboxEvent
from scheduling.jobs import compute_clinic_day, compute_stats, mark_no_shows, stats_for_day
from scheduling.models import (
    Appointment,
    AppointmentHistory,
    AppointmentStatus,
    NoShowRate,
    ProviderDayStats,
    RoomDayStats,
)
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def appointment_at(clinic, start: dt.datetime, minutes: int, **kwargs) -> Appointment:
    return AppointmentFactory(clinic=clinic, start=start, end=start + dt.timedelta(minutes=minutes), **kwargs)


@pytest.fixture(autouse=True)
def _no_hub(settings):
    settings.NOTIFICATION_HUB_URL = ""


# --- No-shows ---------------------------------------------------------------------------


def test_no_show_waits_for_the_grace_period(clinic):
    clinic.no_show_grace_minutes = 15
    clinic.save()
    appointment = appointment_at(clinic, utc(2027, 3, 8, 9, 30), 30)

    assert mark_no_shows(utc(2027, 3, 8, 10, 14)) == []
    assert mark_no_shows(utc(2027, 3, 8, 10, 15)) == []
    assert mark_no_shows(utc(2027, 3, 8, 10, 16)) == [appointment.pk]

    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.NO_SHOW


def test_no_show_writes_history_and_the_event(clinic):
    appointment = appointment_at(clinic, utc(2027, 3, 8, 9), 30, status=AppointmentStatus.CONFIRMED)

    mark_no_shows(utc(2027, 3, 9))

    history = AppointmentHistory.objects.get(appointment=appointment)
    assert (history.action, history.actor, history.changes) == (
        "no_show",
        None,
        {"status": ["confirmed", "no_show"]},
    )
    event = OutboxEvent.objects.get(appointment=appointment)
    assert event.event_id == f"appointment.no_show:{appointment.pk}:1"
    assert event.payload["appointment"]["status"] == "no_show"


def test_marking_no_shows_twice_changes_nothing_the_second_time(clinic):
    appointment_at(clinic, utc(2027, 3, 8, 9), 30)
    now = utc(2027, 3, 9)

    assert len(mark_no_shows(now)) == 1
    assert mark_no_shows(now) == []
    assert AppointmentHistory.objects.count() == 1
    assert OutboxEvent.objects.count() == 1


@pytest.mark.parametrize(
    "status", [AppointmentStatus.CHECKED_IN, AppointmentStatus.COMPLETED, AppointmentStatus.CANCELLED]
)
def test_only_booked_and_confirmed_appointments_become_no_shows(clinic, status):
    appointment = appointment_at(clinic, utc(2027, 3, 8, 9), 30, status=status)

    assert mark_no_shows(utc(2027, 3, 9)) == []
    appointment.refresh_from_db()
    assert appointment.status == status


def test_each_clinic_has_its_own_grace_period(clinic):
    patient_clinic = ClinicFactory(code="lenient", no_show_grace_minutes=120)
    strict = appointment_at(clinic, utc(2027, 3, 8, 9), 30)
    lenient = appointment_at(patient_clinic, utc(2027, 3, 8, 9), 30)

    assert mark_no_shows(utc(2027, 3, 8, 10)) == [strict.pk]
    assert mark_no_shows(utc(2027, 3, 8, 11, 31)) == [lenient.pk]


def test_no_show_grace_is_real_time_when_clocks_spring_forward(clinic):
    # 2027-03-28: at 02:00 CET Berlin jumps to 03:00 CEST. The appointment ends 01:45 CET
    # (00:45 UTC); with 30 minutes' grace it is a no-show from 01:15 UTC = 03:15 CEST.
    # Wall-clock arithmetic (01:45 + 30 min = 02:15) would mark it at 03:10 already.
    clinic.no_show_grace_minutes = 30
    clinic.save()
    appointment = appointment_at(clinic, berlin(2027, 3, 28, 1, 0), 45)

    assert mark_no_shows(berlin(2027, 3, 28, 3, 10)) == []
    assert mark_no_shows(berlin(2027, 3, 28, 3, 16)) == [appointment.pk]


def test_no_show_grace_is_real_time_when_clocks_fall_back(clinic):
    # 2027-10-31: at 03:00 CEST Berlin falls back to 02:00 CET, so 02:00-03:00 happens
    # twice. The appointment is 02:00-02:30 CEST (00:00-00:30 UTC); with 45 minutes' grace
    # it is a no-show from 01:15 UTC, which is 02:15 CET, the second time round.
    clinic.no_show_grace_minutes = 45
    clinic.save()
    appointment = appointment_at(clinic, berlin(2027, 10, 31, 2, 0), 30)
    second_pass = dt.datetime(2027, 10, 31, 2, 20, tzinfo=BERLIN, fold=1)

    assert mark_no_shows(berlin(2027, 10, 31, 2, 50)) == []  # still summer time
    assert mark_no_shows(dt.datetime(2027, 10, 31, 2, 10, tzinfo=BERLIN, fold=1)) == []
    assert mark_no_shows(second_pass) == [appointment.pk]


def test_mark_no_shows_command_reports_what_it_did(clinic):
    # Within the clinic's look-back: an hour ago, not years.
    appointment = appointment_at(clinic, timezone.now() - dt.timedelta(hours=1, minutes=30), 30)
    first, second = StringIO(), StringIO()

    call_command("mark_no_shows", stdout=first)
    call_command("mark_no_shows", stdout=second)

    assert first.getvalue().strip() == f"Marked 1 appointment(s) as no-show: #{appointment.pk}"
    assert second.getvalue().strip() == "No appointments to mark as no-show."


# --- Statistics -------------------------------------------------------------------------

MONDAY = dt.date(2027, 3, 8)  # CET, +01:00


@pytest.fixture
def day(clinic):
    """A Monday worked out by hand.

    dr-a works 08-12 and 13-17 (480 min) with 15-16 off: 420 available.
    dr-b works 09-13: 240. dr-c does not work on Mondays: 0.
    The clinic is open 08-17 (the union of both): 540 minutes for every room.
    """
    a = ProviderFactory(clinic=clinic, code="dr-a")
    b = ProviderFactory(clinic=clinic, code="dr-b")
    c = ProviderFactory(clinic=clinic, code="dr-c")
    for provider, start, end in [(a, 8, 12), (a, 13, 17), (b, 9, 13)]:
        WorkingHoursFactory(provider=provider, weekday=0, start=dt.time(start), end=dt.time(end))
    WorkingHoursFactory(provider=c, weekday=1)
    TimeOff.objects.create(provider=a, start=berlin(2027, 3, 8, 15), end=berlin(2027, 3, 8, 16))
    r1, r2 = RoomFactory(clinic=clinic, code="r1"), RoomFactory(clinic=clinic, code="r2")
    RoomFactory(clinic=clinic, code="r3")
    ecg = AppointmentTypeFactory(clinic=clinic, code="ecg")
    visit = AppointmentTypeFactory(clinic=clinic, code="visit")

    def at(provider, room, hour, minute, minutes, status, **kwargs):
        return appointment_at(
            clinic,
            berlin(2027, 3, 8, hour, minute),
            minutes,
            provider=provider,
            room=room,
            appointment_type=kwargs.pop("appointment_type", ecg),
            status=status,
            **kwargs,
        )

    S = AppointmentStatus
    at(a, r1, 8, 0, 30, S.BOOKED)  # 30 booked
    at(a, r1, 9, 0, 60, S.COMPLETED)  # 60 booked
    at(a, r2, 10, 0, 30, S.NO_SHOW, appointment_type=visit)  # 30 booked: it held the time
    freed = at(a, r1, 11, 0, 30, S.CANCELLED)  # cancelled, then backfilled
    at(a, r2, 13, 0, 30, S.CANCELLED)  # cancelled, not backfilled
    at(b, r1, 11, 0, 30, S.BOOKED, backfill_of=freed)  # 30 booked
    at(b, r2, 9, 0, 15, S.CHECKED_IN, appointment_type=visit)  # 15 booked
    at(b, r2, 12, 0, 30, S.CANCELLED)
    appointment_at(clinic, berlin(2027, 3, 9, 8), 30, provider=a, room=r1)  # another day
    return clinic


EXPECTED_MONDAY = {
    "date": "2027-03-08",
    "providers": [
        {
            "provider": "dr-a",
            "available_minutes": 420,
            "booked_minutes": 120,
            "utilization": 0.2857,
            "appointments": 3,
            "cancellations": 2,
            "no_shows": 1,
            "backfilled": 1,
        },
        {
            "provider": "dr-b",
            "available_minutes": 240,
            "booked_minutes": 45,
            "utilization": 0.1875,
            "appointments": 2,
            "cancellations": 1,
            "no_shows": 0,
            "backfilled": 0,
        },
        {
            "provider": "dr-c",
            "available_minutes": 0,
            "booked_minutes": 0,
            "utilization": 0.0,
            "appointments": 0,
            "cancellations": 0,
            "no_shows": 0,
            "backfilled": 0,
        },
    ],
    "rooms": [
        {"room": "r1", "available_minutes": 540, "booked_minutes": 120, "utilization": 0.2222},
        {"room": "r2", "available_minutes": 540, "booked_minutes": 45, "utilization": 0.0833},
        {"room": "r3", "available_minutes": 540, "booked_minutes": 0, "utilization": 0.0},
    ],
    "totals": {
        "available_minutes": 660,
        "booked_minutes": 165,
        "utilization": 0.25,
        "appointments": 5,
        "cancellations": 3,
        "no_shows": 1,
        "backfilled": 1,
    },
}


def test_stats_of_a_known_day_are_exact(day):
    compute_stats(MONDAY, now=berlin(2027, 3, 9, 12))

    assert stats_for_day(day, MONDAY) == {**EXPECTED_MONDAY, "computed_at": "2027-03-09T12:00:00+01:00"}


def test_stats_for_a_day_without_snapshots_computes_them_without_storing(day):
    assert stats_for_day(day, MONDAY, now=berlin(2027, 3, 9, 13)) == {
        **EXPECTED_MONDAY,
        "computed_at": "2027-03-09T13:00:00+01:00",
    }
    # A read never writes: the hourly job stores snapshots.
    assert ProviderDayStats.objects.filter(date=MONDAY).count() == 0
    assert RoomDayStats.objects.filter(date=MONDAY).count() == 0


def test_stats_are_read_from_the_snapshots(day, django_assert_num_queries):
    compute_stats(MONDAY, now=berlin(2027, 3, 9, 12))
    ProviderDayStats.objects.filter(provider__code="dr-c").update(appointments=7)

    with django_assert_num_queries(2):
        stats = stats_for_day(day, MONDAY)

    assert stats["providers"][2]["appointments"] == 7


def test_computing_a_day_takes_a_fixed_number_of_queries(day, django_assert_num_queries):
    for hour in range(13, 17):
        appointment_at(day, berlin(2027, 3, 8, hour), 30, provider=day.providers.get(code="dr-a"))
    clinic = type(day).objects.get(pk=day.pk)

    # Providers, rooms, closure, working hours, time off, appointments, two upserts, and
    # the savepoint around the upserts.
    with django_assert_num_queries(10):
        compute_clinic_day(clinic, MONDAY, computed_at=berlin(2027, 3, 9, 12))


def test_recomputing_updates_the_snapshot_in_place(day):
    now = berlin(2027, 3, 9, 12)
    compute_stats(MONDAY, now=now)
    Appointment.objects.filter(status=AppointmentStatus.BOOKED, provider__code="dr-b").update(
        status=AppointmentStatus.CANCELLED
    )

    compute_stats(MONDAY, now=now)

    assert ProviderDayStats.objects.filter(date=MONDAY).count() == 3
    b = ProviderDayStats.objects.get(date=MONDAY, provider__code="dr-b")
    assert (b.booked_minutes, b.appointments, b.cancellations) == (15, 1, 2)


def test_by_default_today_and_yesterday_are_computed_in_the_clinics_zone(day):
    # 23:30 UTC on the 8th is already the 9th in Berlin.
    computed = compute_stats(now=utc(2027, 3, 8, 23, 30))

    assert [(c.clinic, c.date) for c in computed] == [(day, MONDAY), (day, dt.date(2027, 3, 9))]
    tuesday = ProviderDayStats.objects.get(date=dt.date(2027, 3, 9), provider__code="dr-a")
    assert (tuesday.available_minutes, tuesday.appointments) == (0, 1)


def test_a_closure_day_has_nothing_available(day):
    Closure.objects.create(clinic=day, date=MONDAY, reason="Inventory")

    stats = stats_for_day(day, MONDAY)

    assert stats["totals"]["available_minutes"] == 0
    assert stats["totals"]["utilization"] == 0.0
    assert {r["available_minutes"] for r in stats["rooms"]} == {0}
    assert stats["totals"]["booked_minutes"] == 165


@pytest.mark.parametrize(
    ("date", "minutes"),
    [
        pytest.param(dt.date(2027, 3, 28), 180, id="spring-forward"),
        pytest.param(dt.date(2027, 10, 31), 300, id="fall-back"),
        pytest.param(dt.date(2027, 3, 21), 240, id="ordinary-sunday"),
    ],
)
def test_available_minutes_are_real_minutes_on_dst_days(clinic, date, minutes):
    provider = ProviderFactory(clinic=clinic, code="dr-night")
    WorkingHoursFactory(provider=provider, weekday=6, start=dt.time(1), end=dt.time(5))
    RoomFactory(clinic=clinic, code="r1")

    stats = stats_for_day(clinic, date)

    assert stats["providers"][0]["available_minutes"] == minutes
    assert stats["rooms"][0]["available_minutes"] == minutes


def test_no_show_rates_cover_the_last_90_days_of_known_outcomes(day):
    AppointmentFactory(
        clinic=day,
        provider=day.providers.get(code="dr-a"),
        start=berlin(2026, 12, 1, 9),  # more than 90 days before: outside the window
        status=AppointmentStatus.NO_SHOW,
    )

    compute_stats(MONDAY, now=berlin(2027, 3, 9, 12))

    rates = {
        (r.provider.code if r.provider else r.appointment_type.code): (r.appointments, r.no_shows, r.rate)
        for r in NoShowRate.objects.filter(date=MONDAY).select_related("provider", "appointment_type")
    }
    assert rates == {
        "dr-a": (2, 1, 0.5),  # completed + no-show
        "dr-b": (1, 0, 0.0),  # checked in
        "ecg": (1, 0, 0.0),
        "visit": (2, 1, 0.5),
    }


def test_compute_stats_command_reports_each_day(day):
    out = StringIO()

    call_command("compute_stats", "--date", "2027-03-08", stdout=out)

    assert out.getvalue().strip() == (
        "riverside 2027-03-08: 3 provider(s), 3 room(s), 165 of 660 minutes booked, "
        "5 appointment(s), 3 cancellation(s), 1 no-show(s)"
    )


def test_compute_stats_command_refuses_a_bad_date(clinic):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("compute_stats", "--date", "08.03.2027", stdout=StringIO())

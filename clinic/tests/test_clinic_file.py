"""The clinic file: load_clinic and export_clinic against real PostgreSQL, and the parser's
problems (each with its JSON path) without a database."""

from __future__ import annotations

import copy
import datetime as dt
import json
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from clinic.clinic_file import ClinicFileError, load_clinic_file, parse_clinic_file
from clinic.models import (
    AppointmentType,
    Clinic,
    Equipment,
    OverbookingRule,
    Patient,
    Provider,
    Room,
    TimeOff,
    WorkingHours,
)
from scheduling.models import Appointment, AppointmentHistory, WaitlistEntry

BERLIN = ZoneInfo("Europe/Berlin")

# In the exact shape export_clinic writes, so an export of it must equal it.
# 2027-03-08 is a Monday.
SMALL = {
    "clinic": {
        "code": "riverside",
        "name": "Riverside Family Practice",
        "timezone": "Europe/Berlin",
        "slot_minutes": 15,
        "min_notice_minutes": 60,
        "booking_horizon_days": 365,
        "scoring_weights": {"preference": 0.5, "compactness": 0.3, "room_switch": 0.1, "overbooking": 0.1},
        "closures": [{"date": "2027-12-24", "reason": "Christmas Eve"}],
    },
    "equipment": [
        {"code": "ecg", "name": "ECG machine"},
        {"code": "ultrasound", "name": "Ultrasound unit"},
    ],
    "rooms": [
        {"code": "r1", "name": "Room 1", "equipment": ["ecg", "ultrasound"]},
        {"code": "r2", "name": "Room 2", "equipment": []},
    ],
    "appointment_types": [
        {
            "code": "consult",
            "name": "Consultation",
            "duration_minutes": 15,
            "buffer_before_minutes": 0,
            "buffer_after_minutes": 0,
            "required_equipment": [],
            "providers": [],
        },
        {
            "code": "ecg",
            "name": "ECG check",
            "duration_minutes": 30,
            "buffer_before_minutes": 0,
            "buffer_after_minutes": 10,
            "required_equipment": ["ecg"],
            "providers": ["dr-weber"],
        },
    ],
    "providers": [
        {
            "code": "dr-okafor",
            "name": "Dr. Chidi Okafor",
            "working_hours": {"mon": [["08:00", "17:00"]], "tue": [["08:00", "17:00"]]},
            "time_off": [],
        },
        {
            "code": "dr-weber",
            "name": "Dr. Anna Weber",
            "working_hours": {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "tue": [["08:00", "17:00"]]},
            "time_off": [{"start": "2027-03-09T13:00", "end": "2027-03-09T17:00", "reason": "Training"}],
        },
    ],
    "overbooking_rules": [
        {"max_extra": 0},
        {"provider": "dr-weber", "max_extra": 1},
        {"provider": "dr-weber", "appointment_type": "ecg", "max_extra": 0},
    ],
    "patients": [
        {
            "code": "p-1001",
            "first_name": "Jonas",
            "last_name": "Beispiel",
            "birth_date": "1984-05-02",
            "phone": "+493000001001",
            "email": "jonas@example.org",
            "preferences": {"providers": ["dr-weber"], "days": ["mon", "wed"], "times": [["08:00", "11:00"]]},
        },
        {
            "code": "p-1002",
            "first_name": "Mia",
            "last_name": "Muster",
            "birth_date": None,
            "phone": "",
            "email": "",
        },
        {
            "code": "p-1003",
            "first_name": "Paul",
            "last_name": "Platzhalter",
            "birth_date": "1990-01-31",
            "phone": "+493000001003",
            "email": "paul@example.org",
        },
        {
            "code": "p-1004",
            "first_name": "Rosa",
            "last_name": "Probe",
            "birth_date": "2001-07-14",
            "phone": "+493000001004",
            "email": "rosa@example.org",
            "preferences": {"times": [["13:00", "17:00"]]},
        },
    ],
    "appointments": [
        {
            "patient": "p-1003",
            "appointment_type": "consult",
            "provider": "dr-okafor",
            "room": "r2",
            "start": "2027-03-08T09:00",
            "status": "confirmed",
        },
        {
            "patient": "p-1001",
            "appointment_type": "ecg",
            "provider": "dr-weber",
            "room": "r1",
            "start": "2027-03-08T09:00",
            "status": "booked",
        },
        {
            "patient": "p-1002",
            "appointment_type": "consult",
            "provider": "dr-weber",
            "room": "r2",
            "start": "2027-03-08T09:00",
            "status": "booked",
            "overbook": True,
        },
        {
            "patient": "p-1002",
            "appointment_type": "consult",
            "provider": "dr-okafor",
            "room": "r2",
            "start": "2027-03-08T10:00",
            "status": "cancelled",
            "cancelled_at": "2027-03-01T08:30:15",
            "cancel_reason": "Patient is ill",
        },
        {
            "patient": "p-1004",
            "appointment_type": "consult",
            "provider": "dr-okafor",
            "room": "r2",
            "start": "2027-03-08T10:00",
            "end": "2027-03-08T10:20",
            "status": "booked",
            "note": "Bring the lab results",
        },
    ],
    "waitlist": [
        {
            "patient": "p-1003",
            "appointment_type": "ecg",
            "provider": "dr-weber",
            "earliest": "2027-03-01",
            "latest": "2027-03-31",
            "note": "any morning",
        },
        {
            "patient": "p-1004",
            "appointment_type": "consult",
            "provider": None,
            "earliest": "2027-03-02",
            "latest": "2027-03-09",
            "note": "",
            "status": "closed",
        },
    ],
}


def small() -> dict:
    return copy.deepcopy(SMALL)


def load(data: dict, tmp_path) -> tuple[str, str]:
    """Run load_clinic on ``data`` written to a file; returns (stdout, stderr)."""
    path = tmp_path / "clinic.json"
    path.write_text(json.dumps(data))
    out, err = StringIO(), StringIO()
    call_command("load_clinic", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def export(code: str = "riverside") -> dict:
    out = StringIO()
    call_command("export_clinic", "--clinic", code, stdout=out)
    return json.loads(out.getvalue())


def counts() -> dict[str, int]:
    models = (Clinic, Equipment, Room, AppointmentType, Provider, WorkingHours, TimeOff, OverbookingRule)
    return {m.__name__: m.objects.count() for m in (*models, Patient, Appointment, WaitlistEntry)}


def wipe() -> None:
    """Empty the database of clinics, as a fresh one would be."""
    AppointmentHistory.objects.all().delete()
    WaitlistEntry.objects.all().delete()
    Appointment.objects.all().delete()
    Clinic.objects.all().delete()


def problems(data: dict) -> list[str]:
    result = parse_clinic_file(data)
    assert result.file is None
    return list(result.errors)


# --- loading ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_load_creates_everything_the_file_describes(tmp_path):
    out, _ = load(small(), tmp_path)

    assert "appointments: 5 created, 0 updated, 0 unchanged" in out
    clinic = Clinic.objects.get(code="riverside")
    assert (clinic.weight_preference, clinic.weight_compactness) == (0.5, 0.3)
    assert clinic.min_notice_minutes == 60
    assert list(clinic.closures.values_list("date", flat=True)) == [dt.date(2027, 12, 24)]
    assert counts() == {
        "Clinic": 1,
        "Equipment": 2,
        "Room": 2,
        "AppointmentType": 2,
        "Provider": 2,
        "WorkingHours": 5,
        "TimeOff": 1,
        "OverbookingRule": 3,
        "Patient": 4,
        "Appointment": 5,
        "WaitlistEntry": 2,
    }
    weber = Provider.objects.get(code="dr-weber")
    assert sorted(weber.working_hours.values_list("weekday", "start", "end")) == [
        (0, dt.time(8), dt.time(12)),
        (0, dt.time(13), dt.time(17)),
        (1, dt.time(8), dt.time(17)),
    ]
    assert weber.time_off.get().start == dt.datetime(2027, 3, 9, 13, 0, tzinfo=BERLIN)
    assert set(Room.objects.get(code="r1").equipment.values_list("code", flat=True)) == {"ecg", "ultrasound"}
    ecg = AppointmentType.objects.get(code="ecg")
    assert list(ecg.providers.values_list("code", flat=True)) == ["dr-weber"]
    rule = OverbookingRule.objects.get(provider=weber, appointment_type=ecg)
    assert rule.max_extra == 0

    jonas = Patient.objects.get(code="p-1001")
    assert jonas.preferred_days == ["mon", "wed"]
    assert jonas.preferred_times == [["08:00", "11:00"]]
    assert list(jonas.preferred_providers.values_list("code", flat=True)) == ["dr-weber"]
    assert Patient.objects.get(code="p-1002").birth_date is None


@pytest.mark.django_db
def test_appointments_get_their_blocked_range_and_seat(tmp_path):
    load(small(), tmp_path)
    nine = dt.datetime(2027, 3, 8, 9, 0, tzinfo=BERLIN)

    ecg = Appointment.objects.get(patient__code="p-1001")
    assert (ecg.start, ecg.end) == (nine, nine + dt.timedelta(minutes=30))
    assert (ecg.blocked_start, ecg.blocked_end) == (nine, nine + dt.timedelta(minutes=40))
    assert ecg.seat == 0
    overbooked = Appointment.objects.get(patient__code="p-1002", provider__code="dr-weber")
    assert overbooked.seat == 1
    custom_end = Appointment.objects.get(patient__code="p-1004")
    assert custom_end.end == dt.datetime(2027, 3, 8, 10, 20, tzinfo=BERLIN)
    assert custom_end.note == "Bring the lab results"
    cancelled = Appointment.objects.get(status="cancelled")
    assert cancelled.cancelled_at == dt.datetime(2027, 3, 1, 8, 30, 15, tzinfo=BERLIN)
    assert cancelled.cancel_reason == "Patient is ill"
    assert AppointmentHistory.objects.filter(action="loaded").count() == 5
    closed = WaitlistEntry.objects.get(patient__code="p-1004")
    assert closed.status == "closed" and closed.closed_at is not None


@pytest.mark.django_db
def test_loading_the_same_file_twice_changes_nothing(tmp_path):
    load(small(), tmp_path)
    before_counts, before_export = counts(), export()
    stamps = dict(Appointment.objects.values_list("pk", "updated_at"))

    out, _ = load(small(), tmp_path)

    assert out.splitlines()[0] == "clinic riverside: nothing changed"
    assert "appointments: 0 created, 0 updated, 5 unchanged" in out
    assert counts() == before_counts
    assert export() == before_export
    assert dict(Appointment.objects.values_list("pk", "updated_at")) == stamps
    assert AppointmentHistory.objects.count() == 5


@pytest.mark.django_db
def test_export_writes_the_file_it_loaded(tmp_path):
    load(small(), tmp_path)

    assert export() == SMALL


@pytest.mark.django_db
def test_round_trip_through_an_empty_database(tmp_path):
    data = small()
    # Local times the clocks repeat need their offset; the export keeps it.
    data["providers"][0]["working_hours"]["sun"] = [["01:00", "04:00"]]
    data["appointments"].append(
        {
            "patient": "p-1001",
            "appointment_type": "consult",
            "provider": "dr-okafor",
            "room": "r2",
            "start": "2027-10-31T02:30+01:00",
            "status": "completed",
        }
    )
    load(data, tmp_path)
    first = export()
    assert first["appointments"][-1]["start"] == "2027-10-31T02:30+01:00"

    wipe()
    load(first, tmp_path)

    assert export() == first


@pytest.mark.django_db
def test_load_reads_standard_input_and_reports_progress():
    out, err = StringIO(), StringIO()
    call_command("load_clinic", "-", stdin=StringIO(json.dumps(SMALL)), stdout=out, stderr=err)

    assert "appointments: 5 created" in out.getvalue()
    assert "appointments: 5/5 written" in err.getvalue()
    assert Appointment.objects.count() == 5


@pytest.mark.django_db
def test_export_to_a_path(tmp_path):
    load(small(), tmp_path)
    target = tmp_path / "out.json"

    call_command("export_clinic", str(target), stderr=StringIO())

    text = target.read_text()
    assert text.startswith('{\n  "clinic": {\n    "code": "riverside"')
    assert json.loads(text) == SMALL


@pytest.mark.django_db
def test_export_needs_a_clinic_code_when_there_are_several(tmp_path):
    load(small(), tmp_path)
    other = small()
    other["clinic"]["code"] = "hillside"
    load(other, tmp_path)

    with pytest.raises(CommandError, match="hillside, riverside"):
        call_command("export_clinic", stdout=StringIO())
    assert export("hillside")["clinic"]["code"] == "hillside"
    # Codes are scoped to the clinic: both have a dr-weber.
    assert Provider.objects.filter(code="dr-weber").count() == 2


# --- updating -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_changed_file_updates_objects_by_code(tmp_path):
    load(small(), tmp_path)
    room_pk = Room.objects.get(code="r2").pk
    data = small()
    data["rooms"][1] = {"code": "r2", "name": "Room 2 (new)", "equipment": ["ultrasound"]}
    data["providers"][1]["working_hours"] = {"mon": [["09:00", "17:00"]]}
    data["patients"][0]["last_name"] = "Beispiel-Muster"
    data["patients"][0].pop("preferences")
    data["appointments"][0]["status"] = "cancelled"
    data["appointments"][1]["room"] = "r1"  # unchanged
    data["waitlist"][0]["latest"] = "2027-04-15"

    out, _ = load(data, tmp_path)

    assert "rooms: 0 created, 1 updated, 1 unchanged" in out
    assert "providers: 0 created, 1 updated, 1 unchanged" in out
    assert "patients: 0 created, 1 updated, 3 unchanged" in out
    assert "appointments: 0 created, 1 updated, 4 unchanged" in out
    assert "waitlist: 0 created, 1 updated, 1 unchanged" in out
    room = Room.objects.get(code="r2")
    assert room.pk == room_pk and room.name == "Room 2 (new)"
    assert list(room.equipment.values_list("code", flat=True)) == ["ultrasound"]
    weber = Provider.objects.get(code="dr-weber")
    assert list(weber.working_hours.values_list("weekday", "start", "end")) == [(0, dt.time(9), dt.time(17))]
    jonas = Patient.objects.get(code="p-1001")
    assert jonas.last_name == "Beispiel-Muster"
    assert (jonas.preferred_days, jonas.preferred_times) == ([], [])
    assert not jonas.preferred_providers.exists()
    cancelled = Appointment.objects.get(patient__code="p-1003")
    assert cancelled.status == "cancelled"
    assert cancelled.history.filter(action="loaded").count() == 2
    assert WaitlistEntry.objects.get(patient__code="p-1003").latest == dt.date(2027, 4, 15)
    assert export() == data


@pytest.mark.django_db
def test_loading_never_deletes_what_the_file_does_not_mention(tmp_path):
    load(small(), tmp_path)
    before = counts()
    data = {"clinic": small()["clinic"], "equipment": [{"code": "xray", "name": "X-ray"}]}

    load(data, tmp_path)

    assert counts() == before | {"Equipment": 3}


@pytest.mark.django_db
def test_an_overlap_with_a_stored_appointment_is_reported_with_its_path(tmp_path):
    load(small(), tmp_path)
    data = small()
    data["appointments"] = [
        {  # a different patient on dr-weber's ECG time, which the database holds
            "patient": "p-1004",
            "appointment_type": "consult",
            "provider": "dr-weber",
            "room": "r2",
            "start": "2027-03-08T09:15",
        },
        {
            "patient": "p-1003",
            "appointment_type": "consult",
            "provider": "dr-okafor",
            "room": "r2",
            "start": "2027-03-08T11:00",
        },
    ]

    with pytest.raises(ClinicFileError) as exc_info:
        load_clinic_file(data)

    (problem,) = exc_info.value.problems
    ecg = Appointment.objects.get(patient__code="p-1001")
    assert problem == (
        f"appointments[0]: overlaps existing appointment #{ecg.pk} (p-1001 at 2027-03-08T09:00)"
        " on provider dr-weber"
    )
    assert Appointment.objects.count() == 5  # the valid entry was not loaded either


def overbooking(start: str) -> dict:
    """The small clinic's resources and one more overbooking on dr-weber's ECG time."""
    data = small()
    data["appointments"] = [
        {
            "patient": "p-1004",
            "appointment_type": "consult",
            "provider": "dr-weber",
            "room": "r1",
            "start": start,
            "overbook": True,
        }
    ]
    return data


@pytest.mark.django_db
def test_an_overbooking_takes_a_seat_the_stored_bookings_leave_free(tmp_path):
    load(small(), tmp_path)

    load_clinic_file(overbooking("2027-03-08T09:15"))  # seat 1 is taken until 09:15

    assert Appointment.objects.get(patient__code="p-1004", provider__code="dr-weber").seat == 1


@pytest.mark.django_db
def test_no_overbooking_seat_left_is_reported(tmp_path):
    load(small(), tmp_path)

    with pytest.raises(ClinicFileError) as exc_info:
        load_clinic_file(overbooking("2027-03-08T09:00"))

    assert exc_info.value.problems == [
        "appointments[0]: no overbooking seat left: "
        "all 1 extra seat(s) of dr-weber or of room r1 are taken then"
    ]


# --- problems, each with its JSON path ------------------------------------------------------


def mutate(change):
    data = small()
    change(data)
    return data


def _set(path: str, value):
    def change(data):
        *parents, last = path
        target = data
        for key in parents:
            target = target[key]
        target[last] = value

    return change


ERRORS = [
    pytest.param(_set(("extra",), 1), "extra: unknown key", id="unknown-root-key"),
    pytest.param(_set(("rooms", 0, "colour"), "blue"), "rooms[0].colour: unknown key", id="unknown-key"),
    pytest.param(
        _set(("appointments", 1, "duration"), 30),
        "appointments[1].duration: unknown key",
        id="unknown-key-deep",
    ),
    pytest.param(
        _set(("rooms", 0, "equipment"), ["ecg", "xray"]),
        'rooms[0].equipment[1]: unknown equipment "xray"',
        id="unknown-equipment",
    ),
    pytest.param(
        _set(("appointment_types", 1, "providers"), ["dr-who"]),
        'appointment_types[1].providers[0]: unknown provider "dr-who"',
        id="unknown-provider",
    ),
    pytest.param(
        _set(("appointments", 0, "patient"), "p-9999"),
        'appointments[0].patient: unknown patient "p-9999"',
        id="unknown-patient",
    ),
    pytest.param(
        _set(("overbooking_rules", 2, "appointment_type"), "xray"),
        'overbooking_rules[2].appointment_type: unknown appointment type "xray"',
        id="unknown-type-in-rule",
    ),
    pytest.param(
        _set(("equipment", 1, "code"), "Ultra Sound"),
        'equipment[1].code: "Ultra Sound" is not a code',
        id="bad-slug",
    ),
    pytest.param(
        _set(("rooms", 1, "code"), "r1"),
        'rooms[1].code: duplicate code "r1" (also rooms[0])',
        id="duplicate-code",
    ),
    pytest.param(
        _set(("clinic", "timezone"), "Europe/Atlantis"),
        'clinic.timezone: "Europe/Atlantis" is not an IANA time zone name',
        id="bad-timezone",
    ),
    pytest.param(
        _set(("providers", 1, "working_hours", "tue"), [["8:00", "17:00"]]),
        'providers[1].working_hours.tue[0][0]: "8:00" is not a time HH:MM',
        id="bad-time",
    ),
    pytest.param(
        _set(("providers", 1, "working_hours", "tue"), [["09:00", "08:00"]]),
        "providers[1].working_hours.tue[0]: end 08:00 is not after start 09:00",
        id="window-end-not-after-start",
    ),
    pytest.param(
        _set(("providers", 1, "working_hours", "mon"), [["08:00", "12:00"], ["11:30", "17:00"]]),
        "providers[1].working_hours.mon[1]: overlaps mon[0] (08:00-12:00)",
        id="overlapping-windows",
    ),
    pytest.param(
        _set(("providers", 1, "working_hours", "monday"), [["08:00", "12:00"]]),
        "providers[1].working_hours.monday: unknown key",
        id="unknown-weekday",
    ),
    pytest.param(
        _set(("appointments", 0, "start"), "2027-03-08 09:00:00"),
        'appointments[0].start: "2027-03-08 09:00:00" is not a datetime YYYY-MM-DDTHH:MM',
        id="bad-datetime",
    ),
    pytest.param(
        _set(("appointments", 0, "start"), "2027-03-28T02:30"),
        "appointments[0].start: 2027-03-28T02:30 does not exist in Europe/Berlin",
        id="skipped-local-time",
    ),
    pytest.param(
        _set(("appointments", 0, "start"), "2027-10-31T02:30"),
        "appointments[0].start: 2027-10-31T02:30 happens twice in Europe/Berlin",
        id="repeated-local-time",
    ),
    pytest.param(
        _set(("appointments", 0, "status"), "done"),
        'appointments[0].status: "done" is not one of booked, confirmed',
        id="bad-status",
    ),
    pytest.param(
        _set(("appointments", 0, "cancel_reason"), "ill"),
        "appointments[0].cancel_reason: only a cancelled appointment has one (status confirmed)",
        id="cancel-reason-when-active",
    ),
    pytest.param(
        _set(("waitlist", 0, "latest"), "2027-02-01"),
        "waitlist[0].latest: 2027-02-01 is before earliest 2027-03-01",
        id="waitlist-dates",
    ),
    pytest.param(
        _set(("overbooking_rules", 0), {"appointment_type": "ecg", "max_extra": 1}),
        "overbooking_rules[0]: a rule for an appointment type must also name its provider",
        id="rule-type-without-provider",
    ),
    pytest.param(
        _set(("appointment_types", 0, "duration_minutes"), 0),
        "appointment_types[0].duration_minutes: 0 is not between 1 and 1440",
        id="duration-zero",
    ),
    pytest.param(
        _set(("patients", 1, "last_name"), ""),
        "patients[1].last_name: must not be empty",
        id="empty-name",
    ),
    pytest.param(
        _set(("patients", 1, "email"), "mia-at-example.org"),
        'patients[1].email: "mia-at-example.org" is not an email address',
        id="bad-email",
    ),
    pytest.param(
        _set(("rooms", 0), ["r1"]),
        "rooms[0]: expected an object",
        id="not-an-object",
    ),
]


@pytest.mark.parametrize(("change", "expected"), ERRORS)
def test_each_problem_is_reported_with_its_json_path(change, expected):
    found = problems(mutate(change))

    assert any(p.startswith(expected) for p in found), found


def test_overlapping_appointments_in_the_file_name_both_entries():
    data = small()
    data["appointments"] += [
        {  # dr-weber is blocked until 09:40 by the ECG (10 minutes' cleaning)
            "patient": "p-1003",
            "appointment_type": "consult",
            "provider": "dr-weber",
            "room": "r2",
            "start": "2027-03-08T09:30",
        },
        {  # room r1 is blocked until 09:40 too
            "patient": "p-1004",
            "appointment_type": "consult",
            "provider": "dr-okafor",
            "room": "r1",
            "start": "2027-03-08T09:30",
        },
        {  # p-1001 is in the ECG until 09:30; dr-okafor and r2 see p-1003 until 09:15
            "patient": "p-1001",
            "appointment_type": "consult",
            "provider": "dr-okafor",
            "room": "r2",
            "start": "2027-03-08T09:10",
        },
        {  # cancelled: holds no time
            "patient": "p-1001",
            "appointment_type": "consult",
            "provider": "dr-weber",
            "room": "r1",
            "start": "2027-03-08T09:00",
            "status": "cancelled",
        },
    ]

    assert problems(data) == [
        "appointments[5]: overlaps appointments[1] on provider dr-weber",
        "appointments[6]: overlaps appointments[1] on room r1",
        "appointments[7]: overlaps appointments[0] on provider dr-okafor",
        "appointments[7]: overlaps appointments[0] on room r2",
        "appointments[7]: overlaps appointments[1] for patient p-1001",
    ]


def test_overbooking_needs_a_rule_that_allows_it():
    data = small()
    data["appointments"][1]["overbook"] = True  # dr-weber's ECG: the ecg rule allows none
    data["appointments"][0]["overbook"] = True  # dr-okafor: only the global rule (0)

    assert problems(data) == [
        "appointments[0]: cannot overbook dr-okafor for consult: the clinic's global rule allows none",
        "appointments[1]: cannot overbook dr-weber for ecg: the rule for dr-weber / ecg allows none",
    ]


def test_every_problem_is_collected():
    data = small()
    data["clinic"]["timezone"] = "Nowhere/Special"
    data["rooms"][0]["colour"] = "blue"
    data["appointments"][0]["room"] = "r9"

    assert problems(data) == [
        'clinic.timezone: "Nowhere/Special" is not an IANA time zone name',
        "rooms[0].colour: unknown key",
        'appointments[0].room: unknown room "r9"',
    ]


def test_booking_rules_an_appointment_breaks_only_warn():
    data = small()
    data["appointments"].append(
        {
            "patient": "p-1003",
            "appointment_type": "ecg",
            "provider": "dr-weber",
            "room": "r2",
            "start": "2027-03-09T16:35",
        }
    )

    result = parse_clinic_file(data)

    assert result.file is not None
    assert result.warnings == (
        "appointments[5]: room r2 lacks ecg",
        "appointments[5]: 2027-03-09T16:35-17:15 (with buffers) "
        "is not inside one of dr-weber's working windows",
        "appointments[5]: overlaps dr-weber's time off 2027-03-09T13:00-2027-03-09T17:00",
    )


def test_datetimes_may_carry_an_offset():
    data = small()
    data["appointments"][0]["start"] = "2027-03-08T08:00Z"

    result = parse_clinic_file(data)

    assert result.file is not None
    assert result.file.appointments[0].start == dt.datetime(2027, 3, 8, 9, 0, tzinfo=BERLIN)


@pytest.mark.django_db
def test_a_file_with_problems_loads_nothing_and_exits_non_zero(tmp_path):
    data = small()
    data["rooms"][0]["colour"] = "blue"
    data["providers"][1]["working_hours"]["tue"] = [["09:00", "08:00"]]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    err = StringIO()

    with pytest.raises(CommandError, match="2 problem"):
        call_command("load_clinic", str(path), stdout=StringIO(), stderr=err)

    assert err.getvalue().splitlines() == [
        "rooms[0].colour: unknown key",
        "providers[1].working_hours.tue[0]: end 08:00 is not after start 09:00",
    ]
    assert Clinic.objects.count() == 0


@pytest.mark.django_db
def test_a_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{")

    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("load_clinic", str(path), stdout=StringIO(), stderr=StringIO())

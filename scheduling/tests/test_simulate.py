"""The clinic simulator (issue 12): deterministic per seed, accounting that balances and
agrees with the database, the command's outputs and errors, and no scratch clinic left
behind, also after a failure mid-run.

The runs use a small clinic (two providers, mornings only) and two or three days, so the
whole file stays well under a minute. Runs outside a test transaction (the simulator
commits through the real services, and its worker processes need their own connections)
clean up after themselves; the tests check that they did.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import signal
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from clinic.models import Clinic, Patient
from scheduling.models import Appointment, WaitlistEntry
from scheduling.simulation import PER_SESSION, POLICIES, SimulationError, simulate
from scheduling.simulation.demand import CANCEL_SHARE, DEMAND_RATIO, accept_offer
from scheduling.simulation.intervals import intersect, minutes, subtract, union
from scheduling.simulation.report import markdown_table, svg_chart
from scheduling.simulation.scratch import CODE_PREFIX
from scheduling.tests.faults.servers import child_env

REQUIRED = (
    "booked_utilization",
    "attended_utilization",
    "refilled_share",
    "idle_minutes",
    "overtime_minutes",
    "served",
    "median_wait_days",
    "preferences_met",
)
FRACTIONS = ("booked_utilization", "attended_utilization", "refilled_share", "preferences_met")
MORNINGS = {day: [["08:00", "12:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def small_clinic_file() -> dict[str, Any]:
    return {
        "clinic": {
            "code": "simtest",
            "name": "Simulation test clinic",
            "timezone": "Europe/Berlin",
            "slot_minutes": 15,
            "min_notice_minutes": 60,
            "closures": [{"date": "2027-03-03", "reason": "Staff training"}],
        },
        "equipment": [{"code": "ecg", "name": "ECG machine"}],
        "rooms": [
            {"code": "r1", "name": "Room 1", "equipment": ["ecg"]},
            {"code": "r2", "name": "Room 2", "equipment": []},
            {"code": "r3", "name": "Room 3", "equipment": []},
        ],
        "appointment_types": [
            {"code": "consult", "name": "Consultation", "duration_minutes": 15},
            {"code": "checkup", "name": "Check-up", "duration_minutes": 30},
            {
                "code": "ecg",
                "name": "ECG check",
                "duration_minutes": 30,
                "buffer_after_minutes": 10,
                "required_equipment": ["ecg"],
                "providers": ["dr-a"],
            },
        ],
        "providers": [
            {"code": "dr-a", "name": "Dr. A", "working_hours": MORNINGS},
            {
                "code": "dr-b",
                "name": "Dr. B",
                "working_hours": MORNINGS,
                "time_off": [{"start": "2027-03-02T08:00", "end": "2027-03-02T10:00", "reason": "Dentist"}],
            },
        ],
        # Replaced by the simulator: the month starts with no rules, bookings or waitlist.
        "overbooking_rules": [{"max_extra": 2}],
        "patients": [{"code": "p-1", "first_name": "Anna", "last_name": "Beispiel"}],
        "appointments": [
            {
                "patient": "p-1",
                "appointment_type": "consult",
                "provider": "dr-a",
                "room": "r2",
                "start": "2027-03-01T08:00",
            }
        ],
    }


def run(days: int = 3, seed: int = 11, workers: int = 1, **kwargs: Any) -> dict[str, Any]:
    return simulate(
        small_clinic_file(),
        days=days,
        seed=seed,
        progress=kwargs.pop("progress", lambda line: None),
        workers=workers,
        **kwargs,
    )


def leftovers() -> dict[str, int]:
    return {
        "clinics": Clinic.objects.filter(code__startswith=CODE_PREFIX).count(),
        "patients": Patient.objects.filter(code__startswith="sim-").count(),
        "appointments": Appointment.objects.count(),
        "waitlist": WaitlistEntry.objects.count(),
    }


NOTHING_LEFT = {"clinics": 0, "patients": 0, "appointments": 0, "waitlist": 0}


@pytest.fixture(scope="module")
def report(django_db_setup: None, django_db_blocker: Any) -> dict[str, Any]:
    lines: list[str] = []
    with django_db_blocker.unblock():
        result = run(progress=lines.append, policies=(*POLICIES, PER_SESSION))
        assert leftovers() == NOTHING_LEFT
    result["_progress"] = lines
    return result


def test_every_policy_reports_the_contracts_keys_within_range(report: dict[str, Any]) -> None:
    assert list(report["policies"]) == [p.name for p in (*POLICIES, PER_SESSION)]
    for name, metrics in report["policies"].items():
        missing = [key for key in REQUIRED if key not in metrics]
        assert not missing, (name, missing)
        for key in FRACTIONS:
            assert 0.0 <= metrics[key] <= 1.0, (name, key, metrics[key])
        for key in ("idle_minutes", "overtime_minutes", "served"):
            assert isinstance(metrics[key], int) and metrics[key] >= 0, (name, key)
        assert metrics["median_wait_days"] >= 1  # calls are for the next day at the earliest
        assert metrics["served"] > 0 and metrics["booked_utilization"] > 0.5
        # The clock is sequential: a slot the engine offered is still free when booked.
        assert metrics["service_refusals"] == 0
    sim = report["simulation"]
    # 2027-03-03 is a closure: three working days are Mon, Tue and Thu.
    assert (sim["first_day"], sim["last_day"], sim["days"]) == ("2027-03-01", "2027-03-04", 3)


def test_accounting_balances(report: dict[str, Any]) -> None:
    """Every requested minute is booked, waitlisted or refused; every cancelled minute is
    refilled or stayed idle; held time is attended or idle. The parts are computed apart
    (from the ledger, and from interval arithmetic on the stored rows)."""
    for name, m in report["policies"].items():
        assert (
            m["requested_minutes"]
            == m["booked_on_request_minutes"] + m["waitlisted_minutes"] + m["refused_minutes"]
        ), name
        assert abs(m["cancelled_minutes"] - m["refilled_minutes"] - m["unfilled_minutes"]) <= 1, name
        assert abs(m["booked_minutes"] - m["attended_minutes"] - m["idle_minutes"]) <= 1, name
        assert m["waitlist_booked_minutes"] <= m["waitlisted_minutes"], name
        assert m["refilled_minutes"] == pytest.approx(m["refilled_share"] * m["cancelled_minutes"], abs=1), (
            name
        )
        # Demand is about 115 % of the bookable minutes, so more was asked than could be booked.
        assert m["requested_minutes"] >= DEMAND_RATIO * m["bookable_minutes"] - 45, name
        assert m["booked_minutes"] <= m["bookable_minutes"], name
        assert 0 <= m["dead_gap_minutes"] <= m["bookable_minutes"] - m["booked_minutes"], name


def test_same_demand_for_every_policy_and_backfill_only_where_the_policy_offers_it(
    report: dict[str, Any],
) -> None:
    policies = report["policies"]
    assert len({m["requests"] for m in policies.values()}) == 1
    assert len({m["requested_minutes"] for m in policies.values()}) == 1
    for name in ("first_fit", "ranked"):
        assert policies[name]["backfill_offers"] == 0 and policies[name]["backfill_accepted"] == 0
    assert policies["ranked_backfill"]["backfill_accepted"] > 0
    assert policies["ranked_backfill"]["refilled_share"] >= policies["ranked"]["refilled_share"]
    # No overbooking rule exists outside the overbooking policy (the file's rule is dropped).
    for name in ("first_fit", "ranked", "ranked_backfill"):
        assert policies[name]["overbooked_appointments"] == 0 and policies[name]["overtime_minutes"] == 0
    for name in ("ranked_backfill_overbook", PER_SESSION.name):
        recommendations = policies[name]["overbooking_recommendations"]
        assert {(r["provider"], r["appointment_type"]) for r in recommendations} == {
            ("dr-a", "checkup"),
            ("dr-a", "consult"),
            ("dr-a", "ecg"),
            ("dr-b", "checkup"),
            ("dr-b", "consult"),
        }
    assert all(m["cancellations"] > 0 for m in policies.values())


def test_progress_names_each_policy_and_day(report: dict[str, Any]) -> None:
    lines = report["_progress"]
    for policy in (*POLICIES, PER_SESSION):
        for day in (1, 2, 3):
            assert any(line.startswith(f"{policy.name}: ") and f"(day {day}/3)" in line for line in lines), (
                policy.name,
                day,
            )
        assert any(line.startswith(f"{policy.name}: done in") for line in lines)
        # Two working days either side are simulated, not measured: Thu/Fri before, Fri/Mon after.
        for day in ("Thu 2027-02-25", "Fri 2027-02-26", "Fri 2027-03-05", "Mon 2027-03-08"):
            assert any(line.startswith(f"{policy.name}: {day} (margin, not measured)") for line in lines), day


def test_same_seed_gives_the_same_json_whatever_the_workers(
    django_db_setup: None, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock():
        alone = run(days=1, seed=5, workers=1)
        side_by_side = run(days=1, seed=5, workers=2)
        other_seed = run(days=1, seed=6, workers=1, policies=POLICIES[:1])
        assert leftovers() == NOTHING_LEFT
    assert json.dumps(alone, sort_keys=True) == json.dumps(side_by_side, sort_keys=True)
    assert other_seed["policies"]["first_fit"] != alone["policies"]["first_fit"]


def test_a_failure_mid_run_leaves_no_scratch_clinic(django_db_setup: None, django_db_blocker: Any) -> None:
    def fail_on_the_first_day(line: str) -> None:
        if "(day 1/" in line:
            raise RuntimeError("injected")

    with django_db_blocker.unblock():
        with pytest.raises(RuntimeError, match="injected"):
            run(days=1, progress=fail_on_the_first_day)
        assert leftovers() == NOTHING_LEFT
        with pytest.raises(SimulationError, match="RuntimeError: injected"):
            run(days=1, workers=2, progress=fail_on_the_first_day)
        assert leftovers() == NOTHING_LEFT


@pytest.mark.django_db(transaction=True)  # the command's own process must see the test database
def test_sigterm_mid_run_removes_every_scratch_clinic(django_db_blocker: Any, tmp_path: Any) -> None:
    """The real command in its own process, its two workers busy: a SIGTERM ends it with
    exit code 130 and every scratch clinic removed."""
    clinic_path = tmp_path / "clinic.json"
    clinic_path.write_text(json.dumps(small_clinic_file()))
    env = child_env()  # production settings on the test database, the embedded one's socket too
    command = [sys.executable, "manage.py", "simulate", "--days", "3", "--clinic", str(clinic_path)]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # the first progress line: the scratch clinics are busy
            seen.append(line)
            if "before the period" in line:
                break
        else:
            pytest.fail("no progress line: " + "".join(seen[-20:]))
        with django_db_blocker.unblock():
            assert leftovers()["clinics"] >= 1  # there is something to clean up
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        assert process.wait(timeout=60) == 130, rest
    finally:
        if process.poll() is None:
            process.kill()
    assert "Interrupted; the scratch clinics were removed." in rest
    with django_db_blocker.unblock():
        assert leftovers() == NOTHING_LEFT


@pytest.mark.django_db
def test_the_command_prints_the_table_and_writes_json_and_svg(tmp_path: Any) -> None:
    clinic_path = tmp_path / "clinic.json"
    clinic_path.write_text(json.dumps(small_clinic_file()))
    out, err = io.StringIO(), io.StringIO()
    target = tmp_path / "report.json"
    call_command(
        "simulate",
        "--days",
        "1",
        "--seed",
        "3",
        "--clinic",
        str(clinic_path),
        "--json",
        str(target),
        "--workers",
        "1",
        stdout=out,
        stderr=err,
    )
    written = json.loads(target.read_text())
    assert list(written["policies"]) == [p.name for p in POLICIES]
    svg = (tmp_path / "report.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<polyline") == 2 * len(POLICIES)
    assert "Utilization of bookable minutes per week" in svg
    table = out.getvalue()
    assert table.startswith("| policy | booked utilization |")
    assert all(f"| {p.name} |" in table for p in POLICIES)
    assert "first_fit: Mon 2027-03-01 (day 1/1)" in err.getvalue()
    assert leftovers() == NOTHING_LEFT


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--days", "0"], "--days: 0 is out of range"),
        (["--days", "twenty"], "--days: 'twenty' is not a whole number"),
        (["--seed", "-1"], "--seed: -1 is out of range"),
        (["--workers", "9"], "--workers: 9 is out of range"),
        (["--clinic", "/nonexistent/clinic.json"], "--clinic /nonexistent/clinic.json: No such file"),
        (["--json", "/nonexistent/dir/report.json"], "--json: the folder /nonexistent/dir does not exist"),
    ],
)
def test_bad_arguments_are_refused_clearly(arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("simulate", *arguments, stdout=io.StringIO(), stderr=io.StringIO())


def test_a_broken_clinic_file_is_refused_with_its_problems(tmp_path: Any) -> None:
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("simulate", "--clinic", str(not_json), stdout=io.StringIO(), stderr=io.StringIO())
    invalid = tmp_path / "invalid.json"
    data = small_clinic_file()
    data["clinic"]["timezone"] = "Mars/Olympus"
    invalid.write_text(json.dumps(data))
    err = io.StringIO()
    with pytest.raises(CommandError, match="The clinic file has problems"):
        call_command("simulate", "--clinic", str(invalid), stdout=io.StringIO(), stderr=err)
    assert "clinic.timezone" in err.getvalue()


def test_interval_arithmetic() -> None:
    t = dt.datetime(2027, 3, 1, 8, tzinfo=dt.UTC)

    def at(minute: int) -> dt.datetime:
        return t + dt.timedelta(minutes=minute)

    merged = union([(at(30), at(60)), (at(0), at(15)), (at(15), at(20)), (at(50), at(90))])
    assert merged == [(at(0), at(20)), (at(30), at(90))]
    assert minutes(merged) == 80
    window = [(at(10), at(40))]
    assert intersect(merged, window) == [(at(10), at(20)), (at(30), at(40))]
    assert subtract(merged, window) == [(at(0), at(10)), (at(40), at(90))]
    assert subtract(window, []) == window and intersect(window, []) == []


def test_offer_acceptance_falls_with_short_notice() -> None:
    chances = [accept_offer(dt.timedelta(hours=h)) for h in (1, 6, 12, 24, 72)]
    assert chances == sorted(chances) and chances[0] < 0.1 and 0.8 < chances[-1] <= 0.85
    assert accept_offer(dt.timedelta(0)) == 0.0
    assert 0 < CANCEL_SHARE < 1


def test_report_renders_a_row_per_policy() -> None:
    weekly = [
        {
            "week": "2027-W09",
            "first_day": "2027-03-01",
            "days": 5,
            "booked_utilization": 0.9,
            "attended_utilization": 0.8,
        }
    ]
    metrics = dict.fromkeys(REQUIRED, 0) | {"booked_utilization": 0.9512, "weekly": weekly}
    report = {
        "simulation": {"clinic": "c", "days": 5, "first_day": "2027-03-01", "seed": 1},
        "policies": {"a": metrics, "b": metrics},
    }
    table = markdown_table(report).splitlines()
    assert len(table) == 4 and table[2].startswith("| a | 95.1 % |")
    assert svg_chart(report).count("<circle") == 2 * 2

"""``Idempotency-Key`` (issue 10): the answer is stored in the transaction of the change it
answers, so the two commit or roll back together; a concurrent repeat waits for the first
request and replays its answer; a key belongs to one user, clinic, method and path; records
are purged after a day. Real threads against a live server and real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.db import connection, transaction
from django.utils import timezone

from clinic.models import ApiToken, Membership, Patient
from clinic.tests.factories import AppointmentTypeFactory, ClinicFactory, PatientFactory
from clinic.transactions import hosting_services
from notifications.models import OutboxEvent
from scheduling import services
from scheduling.models import Appointment, IdempotencyRecord, WaitlistEntry
from scheduling.tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(live_server, small_clinic, desk):
    """post(path, body, key, token=None) against the live server, as the front desk."""
    token = ApiToken.issue(desk)[1]

    def post(path: str, body: dict[str, Any], key: str | None, token: str = token) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return requests.post(f"{live_server.url}{path}", json=body, headers=headers, timeout=30)

    post("/api/v1/patients", {"code": "warm-up", "first_name": "W", "last_name": "U"}, None)
    return post


def waitlist_body(small_clinic, patient: str = "p-1") -> dict[str, Any]:
    day = small_clinic["day"]
    return {
        "patient": patient,
        "appointment_type": "consult",
        "earliest": day.isoformat(),
        "latest": (day + dt.timedelta(days=7)).isoformat(),
    }


def booking_body(small_clinic, clock: str = "09:00") -> dict[str, Any]:
    start = dt.datetime.combine(
        small_clinic["day"], dt.time.fromisoformat(clock), tzinfo=small_clinic["clinic"].tz
    )
    return {
        "patient": "p-1",
        "appointment_type": "consult",
        "provider": "dr-a",
        "room": "r1",
        "start": start.isoformat(),
    }


def fire_together(post, path: str, body: dict[str, Any], key: str, n: int) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(n)

    def one(_: int) -> tuple[int, dict]:
        barrier.wait()
        response = post(path, body, key)
        return response.status_code, response.json()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_concurrent_waitlist_requests_with_one_key_add_one_entry_and_share_its_answer(api, small_clinic):
    results = fire_together(api, "/api/v1/waitlist", waitlist_body(small_clinic), "wl-1", 8)

    assert [status for status, _ in results] == [201] * 8, results
    assert all(body == results[0][1] for _, body in results), results
    assert WaitlistEntry.objects.count() == 1
    assert WaitlistEntry.objects.get().pk == results[0][1]["id"]


def test_concurrent_bookings_with_one_key_book_once_and_all_get_the_booking(api, small_clinic):
    results = fire_together(api, "/api/v1/appointments", booking_body(small_clinic), "bk-1", 8)

    assert [status for status, _ in results] == [201] * 8, results
    assert all(body == results[0][1] for _, body in results), results
    assert Appointment.objects.count() == 1
    assert OutboxEvent.objects.count() == 1


def waiting_on_locks() -> list[str]:
    """What the other sessions of this database are waiting for, right now."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # the view is cached per transaction
        cursor.execute(
            "SELECT wait_event FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        return [event for (event,) in cursor.fetchall()]


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; sessions wait on {waiting_on_locks()}")
        time.sleep(0.02)


def test_a_repeat_waits_for_the_first_request_and_replays_its_answer(api, small_clinic):
    """The first request is held inside its transaction (the waitlist table is locked); the
    repeat, sent meanwhile, waits for it instead of running, and answers what it answered."""
    body = waitlist_body(small_clinic)
    with ThreadPoolExecutor(2) as pool:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE scheduling_waitlistentry IN SHARE ROW EXCLUSIVE MODE")
            first = pool.submit(api, "/api/v1/waitlist", body, "wl-held")
            wait_until(lambda: len(waiting_on_locks()) == 1)  # the first, at its insert
            repeat = pool.submit(api, "/api/v1/waitlist", body, "wl-held")
            wait_until(lambda: len(waiting_on_locks()) == 2)  # the repeat waits too
            assert not repeat.done()
        first_response, repeat_response = first.result(), repeat.result()

    assert first_response.status_code == repeat_response.status_code == 201, repeat_response.text
    assert repeat_response.json() == first_response.json()
    assert repeat_response.headers.get("Idempotent-Replayed") == "true"
    assert WaitlistEntry.objects.count() == 1


FAIL_ON_ANSWER = """
CREATE FUNCTION test_fail_on_answer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the process died before the answer was stored'; END $$;
CREATE TRIGGER test_fail_on_answer BEFORE INSERT OR UPDATE ON scheduling_idempotencyrecord
FOR EACH ROW WHEN (NEW.status_code IS NOT NULL) EXECUTE FUNCTION test_fail_on_answer();
"""


@pytest.fixture
def answer_cannot_be_stored():
    """Storing an answer fails in the database, after the booking was made: where a crash
    between the booking and its record would have struck."""
    with connection.cursor() as cursor:
        cursor.execute(FAIL_ON_ANSWER)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS test_fail_on_answer() CASCADE")


def test_the_booking_and_its_answer_commit_or_roll_back_together(api, small_clinic, answer_cannot_be_stored):
    failed = api("/api/v1/appointments", booking_body(small_clinic), "bk-crash")

    assert failed.status_code == 500
    assert Appointment.objects.count() == 0, "the booking rolled back with its answer"
    assert OutboxEvent.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0

    with connection.cursor() as cursor:
        cursor.execute("DROP FUNCTION test_fail_on_answer() CASCADE")
    retried = api("/api/v1/appointments", booking_body(small_clinic), "bk-crash")
    again = api("/api/v1/appointments", booking_body(small_clinic), "bk-crash")

    assert retried.status_code == 201, retried.text  # not 409: nothing was half done
    assert again.status_code == 201 and again.json() == retried.json()
    assert Appointment.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.status_code, record.body) == (201, retried.json())


def test_a_refused_request_stores_no_answer_and_may_be_retried(api, small_clinic):
    body = waitlist_body(small_clinic, patient="p-missing")
    refused = api("/api/v1/waitlist", body, "wl-refused")
    assert refused.status_code == 404
    assert IdempotencyRecord.objects.count() == 0

    PatientFactory(clinic=small_clinic["clinic"], code="p-missing")
    created = api("/api/v1/waitlist", body, "wl-refused")

    assert created.status_code == 201, created.text
    assert WaitlistEntry.objects.count() == 1


def test_one_key_from_two_users_is_two_requests(api, small_clinic, django_user_model):
    other = ApiToken.issue(make_user(django_user_model, "frontdesk2"))[1]
    body = waitlist_body(small_clinic)

    mine = api("/api/v1/waitlist", body, "shared-key")
    theirs = api("/api/v1/waitlist", body, "shared-key", token=other)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert WaitlistEntry.objects.count() == 2


def test_one_key_on_two_paths_is_two_requests(api, small_clinic):
    waitlisted = api("/api/v1/waitlist", waitlist_body(small_clinic), "shared-key")
    booked = api("/api/v1/appointments", booking_body(small_clinic), "shared-key")

    assert waitlisted.status_code == booked.status_code == 201, booked.text
    assert booked.json()["patient"] == "p-1" and "start" in booked.json()
    assert (WaitlistEntry.objects.count(), Appointment.objects.count()) == (1, 1)


def test_one_key_in_two_clinics_is_two_requests(api, small_clinic, desk):
    """The clinic is chosen by ``?clinic=``, not the path: the key must not replay clinic A's
    answer to a request for clinic B."""
    riverside = small_clinic["clinic"]
    hillside = ClinicFactory(code="hillside", name="Hillside")
    AppointmentTypeFactory(clinic=hillside, code="consult")
    PatientFactory(clinic=hillside, code="p-1")
    for clinic in (riverside, hillside):
        Membership.objects.create(user=desk, clinic=clinic)
    body = waitlist_body(small_clinic)

    here = api("/api/v1/waitlist?clinic=riverside", body, "shared-key")
    there = api("/api/v1/waitlist?clinic=hillside", body, "shared-key")

    assert here.status_code == there.status_code == 201, there.text
    assert here.json()["id"] != there.json()["id"]
    assert sorted(WaitlistEntry.objects.values_list("clinic__code", flat=True)) == ["hillside", "riverside"]


def test_one_key_with_another_body_is_refused(api, small_clinic):
    first = api("/api/v1/waitlist", waitlist_body(small_clinic), "wl-2")
    other = api("/api/v1/waitlist", waitlist_body(small_clinic, patient="p-2"), "wl-2")

    assert first.status_code == 201
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "validation_error"
    assert "Idempotency-Key" in other.json()["error"]["details"]["fields"]
    assert WaitlistEntry.objects.count() == 1


def test_patients_replay_too(api, small_clinic):
    body = {"code": "p-new", "first_name": "Ada", "last_name": "Lovelace"}
    first = api("/api/v1/patients", body, "pt-1")
    again = api("/api/v1/patients", body, "pt-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Patient.objects.filter(code="p-new").count() == 1


def test_records_older_than_a_day_are_purged(api, small_clinic):
    from scheduling.jobs import IDEMPOTENCY_RECORDS_KEPT, purge_idempotency_records

    for key in ("old", "recent"):
        assert api("/api/v1/waitlist", waitlist_body(small_clinic), key).status_code == 201
    now = timezone.now()
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=now - IDEMPOTENCY_RECORDS_KEPT - dt.timedelta(seconds=1)
    )
    IdempotencyRecord.objects.filter(key="recent").update(
        created_at=now - IDEMPOTENCY_RECORDS_KEPT + dt.timedelta(minutes=1)
    )

    assert purge_idempotency_records(now) == 1

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
    # Once its record is gone, the key is new again.
    assert api("/api/v1/waitlist", waitlist_body(small_clinic), "old").status_code == 201
    assert WaitlistEntry.objects.count() == 3


def test_a_service_joins_only_the_idempotent_door_s_transaction(small_clinic):
    """Inside any other transaction a service still refuses to run, as a durable block does."""
    day = small_clinic["day"]

    def add() -> None:
        services.waitlist_add(
            clinic=small_clinic["clinic"],
            patient=small_clinic["patients"][0],
            appointment_type=small_clinic["consult"],
            earliest=day,
            latest=day,
        )

    with pytest.raises(RuntimeError), transaction.atomic():
        add()
    with pytest.raises(RuntimeError), hosting_services(), transaction.atomic():
        add()
    with hosting_services():
        add()
    add()

    assert WaitlistEntry.objects.count() == 2

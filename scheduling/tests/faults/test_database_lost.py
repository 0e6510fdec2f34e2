"""The database lost mid-booking: the booking's backend is killed while its transaction is
open. The API answers a JSON 503, nothing is half-written, and the same request afterwards
books once; the front desk shows what happened where the user is working. And with the
database unreachable altogether (stopped, or the network to it down), every door says so.

The booking is paused mid-transaction by a trigger that waits for an advisory lock the test
holds; once its backend waits there, ``pg_terminate_backend`` kills it, as a database restart
or a failover would. The machine's PostgreSQL (or the embedded one) keeps running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from django.db import connections
from django.test import Client

from clinic.models import ApiToken
from desk.views.common import DATABASE_LOST
from notifications.models import OutboxEvent
from scheduling.models import Appointment, AppointmentHistory, IdempotencyRecord, StatsDirtyDay
from scheduling.tests.faults.servers import Gunicorn, control_connection, free_port, gunicorn
from scheduling.tests.test_idempotency import booking_body

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


PAUSE_LOCK = 7_100_410  # the advisory lock the paused transaction waits for


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Gunicorn]:
    """One gunicorn worker on the test database for the module's tests."""
    with django_db_blocker.unblock(), gunicorn(tmp_path_factory.mktemp("gunicorn"), workers=1) as running:
        yield running


class Pause:
    def __init__(self, control: psycopg.Connection) -> None:
        self.control = control

    def backend(self, timeout: float = 15.0) -> int:
        """The backend whose transaction waits at the trigger."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.control.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND wait_event = 'advisory' AND pid <> pg_backend_pid()"
            ).fetchone()
            if row:
                return row[0]
            time.sleep(0.02)
        raise AssertionError("no transaction reached the pause")

    def kill(self, pid: int) -> None:
        assert self.control.execute("SELECT pg_terminate_backend(%s, 10000)", [pid]).fetchone()[0]


@contextlib.contextmanager
def paused_after_insert_into(table: str) -> Iterator[Pause]:
    """Every transaction that inserts into ``table`` stops right after the insert, holding
    its uncommitted rows, until the test lets go (or kills it)."""
    control = control_connection()
    control.execute("SELECT pg_advisory_lock(%s)", [PAUSE_LOCK])
    control.execute(
        f"CREATE FUNCTION fault_pause() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN PERFORM pg_advisory_xact_lock_shared({PAUSE_LOCK}); RETURN NULL; END $$"
    )
    control.execute(
        f"CREATE TRIGGER fault_pause AFTER INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION fault_pause()"
    )
    try:
        yield Pause(control)
    finally:
        control.execute("SELECT pg_advisory_unlock(%s)", [PAUSE_LOCK])
        control.execute(f"DROP TRIGGER IF EXISTS fault_pause ON {table}")
        control.execute("DROP FUNCTION IF EXISTS fault_pause()")
        control.close()


def nothing_written() -> dict[str, int]:
    counts = {
        model.__name__: model.objects.count()
        for model in (Appointment, AppointmentHistory, OutboxEvent, IdempotencyRecord, StatsDirtyDay)
    }
    assert counts == dict.fromkeys(counts, 0), counts
    return counts


@pytest.mark.parametrize(
    ("table", "key"),
    [
        # Killed with the appointment, its history and its event written: the last insert.
        ("notifications_outboxevent", None),
        # Killed right after the appointment's insert, a client that sends an Idempotency-Key.
        ("scheduling_appointment", "booking-7f3a"),
    ],
)
def test_a_booking_whose_database_is_lost_answers_503_writes_nothing_and_books_once_on_retry(
    server, small_clinic, desk, table, key
):
    headers = {"Authorization": f"Bearer {ApiToken.issue(desk)[1]}"}
    if key:
        headers["Idempotency-Key"] = key
    body = booking_body(small_clinic)

    def post() -> requests.Response:
        return requests.post(f"{server.url}/api/v1/appointments", json=body, headers=headers, timeout=30)

    with paused_after_insert_into(table) as pause, ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(post)
        pause.kill(pause.backend())
        lost = in_flight.result(timeout=30)

    assert lost.status_code == 503, lost.text
    assert lost.json()["error"]["code"] == "service_unavailable"
    assert set(lost.json()["error"]) == {"code", "message", "details"}
    assert lost.headers["Retry-After"]
    nothing_written()

    # The server recovers by itself (a new connection); the same request books once.
    assert requests.get(f"{server.url}/health", timeout=10).json() == {"status": "ok", "database": "ok"}
    first = post()
    assert first.status_code == 201, first.text
    again = post()
    if key:
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
    else:
        assert again.status_code == 409 and again.json()["error"]["code"] == "slot_taken"
    appointment = Appointment.objects.get()
    assert appointment.pk == first.json()["id"]
    assert AppointmentHistory.objects.filter(appointment=appointment, action="booked").count() == 1
    assert list(OutboxEvent.objects.values_list("event_id", flat=True)) == [
        f"appointment.booked:{appointment.pk}:1"
    ]


def test_the_front_desk_shows_a_lost_database_in_its_alert_region(small_clinic, desk):
    client = Client()
    client.force_login(desk)
    start = dt.datetime.combine(small_clinic["day"], dt.time(10), tzinfo=small_clinic["clinic"].tz)
    form = {"patient": "p-2", "appointment_type": "consult", "slot": f"dr-b|r2|{start.isoformat()}|0"}

    def book(**headers: str):
        try:
            return client.post("/book/confirm/", form, **headers)
        finally:
            connections.close_all()  # this thread's connection

    with paused_after_insert_into("scheduling_appointment") as pause, ThreadPoolExecutor(1) as pool:
        fragment = pool.submit(book, HTTP_HX_REQUEST="true")
        pause.kill(pause.backend())
        htmx_answer = fragment.result(timeout=30)
        page = pool.submit(book)  # without htmx: a whole page
        pause.kill(pause.backend())
        page_answer = page.result(timeout=30)

    assert htmx_answer.status_code == 503
    # desk.js swaps a 503 that names #alert into the alert region, like a refusal.
    assert htmx_answer["HX-Retarget"] == "#alert"
    assert DATABASE_LOST.split(":")[0] in htmx_answer.content.decode().replace("&#x27;", "'")
    assert page_answer.status_code == 503
    assert "Not done" in page_answer.content.decode()
    nothing_written()

    booked = client.post("/book/confirm/", form, HTTP_HX_REQUEST="true")
    assert booked.status_code == 200 and "Booked" in booked.content.decode()
    assert Appointment.objects.count() == 1


def test_with_the_database_unreachable_every_door_answers_503_and_none_a_500(tmp_path, small_clinic):
    # A server whose database refuses connections, as a stopped PostgreSQL does; the
    # machine's own server and the embedded one are left alone.
    nowhere = f"postgres://clinic@127.0.0.1:{free_port()}/clinic"
    with gunicorn(tmp_path, workers=1, DATABASE_URL=nowhere) as server:
        health = requests.get(f"{server.url}/health", timeout=10)
        session = {"sessionid": "a-session-the-database-would-know"}
        api = requests.post(
            f"{server.url}/api/v1/appointments",
            json=booking_body(small_clinic),
            headers={"Authorization": "Bearer any-token", "Idempotency-Key": "k-1"},
            timeout=10,
        )
        # A browser's session on the API (the docs page): the session cannot be read either.
        api_session = requests.get(f"{server.url}/api/v1/providers", cookies=session, timeout=10)
        fragment = requests.get(f"{server.url}/", cookies=session, headers={"HX-Request": "true"}, timeout=10)
        page = requests.get(f"{server.url}/", cookies=session, timeout=10)

    assert (health.status_code, health.json()) == (503, {"status": "error", "database": "unreachable"})
    assert api.status_code == 503 and api.json()["error"]["code"] == "service_unavailable"
    assert api_session.status_code == 503 and api_session.json()["error"]["code"] == "service_unavailable"
    assert fragment.status_code == 503 and fragment.headers["HX-Retarget"] == "#alert"
    assert "database cannot be reached" in fragment.text
    assert page.status_code == 503 and "database cannot be reached" in page.text

"""No patient data in logs: JSON lines, a request id, no query strings, the hub's code only.

The requests go through real servers: Django's runserver handler (which logs its request
line, query string included, to ``django.server``) and gunicorn with ``gunicorn.conf.py``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application
from django.db import connection, connections, transaction
from django.test import Client

from clinic.observability import ACCESS_LOGGER, JsonFormatter, logging_config
from clinic.tests.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory, RoomFactory
from notifications import delivery
from notifications.delivery import deliver_event, hub_error_code
from notifications.models import OutboxStatus
from notifications.outbox import record_event
from scheduling.tests import conftest as scheduling_fixtures
from scheduling.tests.conftest import make_user
from scheduling.tests.factories import AppointmentFactory

small_clinic = scheduling_fixtures.small_clinic  # the scheduling tests' clinic, shared

ROOT = Path(__file__).resolve().parents[2]
# What must never be written to a log: the patient's name, phone, e-mail and note, and
# what was typed into a search.
FIRST, LAST, PHONE, EMAIL = "Henrietta", "Quenzelmaier", "+49 30 5557781", "hq.private@example.org"
NOTE = "Confidential clinical remark"
SECRETS = (FIRST, LAST, "5557781", "557781", EMAIL, "hq.private", NOTE, "Quenzel")


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s.lower() in text.lower()]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything logged meanwhile, at every level, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root, access = logging.getLogger(), logging.getLogger(ACCESS_LOGGER)
    chatty = [logging.getLogger(name) for name in ("", "django", "django.server", "django.request")]
    levels = [logger.level for logger in chatty]
    for logger in chatty:
        logger.setLevel(logging.DEBUG)
    pinned = [logging.getLogger(name) for name in ("django.db.backends", "django.template")]
    assert all(logger.level == logging.INFO for logger in pinned), "as logging_config() leaves them"
    root.addHandler(handler)
    access.addHandler(handler)
    yield stream
    root.removeHandler(handler)
    access.removeHandler(handler)
    for logger, level in zip(chatty, levels, strict=True):
        logger.setLevel(level)


def parsed(stream: io.StringIO) -> list[dict]:
    """Every line, each of which must be one JSON object."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def private_patient(clinic, code: str = "p-7001"):
    return PatientFactory(
        clinic=clinic, code=code, first_name=FIRST, last_name=LAST, phone=PHONE, email=EMAIL
    )


# --- The line -------------------------------------------------------------------------------


def test_a_log_line_is_one_json_object_with_time_level_logger_and_message():
    record = logging.LogRecord("clinic.x", logging.WARNING, __file__, 1, "Took %d ms", (12,), None)
    line = JsonFormatter().format(record)

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "clinic.x" and entry["message"] == "Took 12 ms"
    assert dt.datetime.fromisoformat(entry["time"]).utcoffset() == dt.timedelta(0)


def test_a_line_carries_known_fields_only_never_the_request_object(rf):
    request = rf.get(f"/patients/search/?q={LAST}")
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/x/",), None
    )
    record.request = request  # what django.request attaches; its repr holds the full URL
    record.status_code = 404
    entry = json.loads(JsonFormatter().format(record))

    assert entry["status_code"] == 404
    assert set(entry) == {"time", "level", "logger", "message", "status_code"}
    assert not leaks(json.dumps(entry))


@pytest.mark.parametrize(
    "message",
    [
        f'"GET /patients/search/?q={LAST} HTTP/1.1" 200 512',
        f"Error handling request /patients/search/?q={FIRST}+{LAST}&limit=10",
        f"calling http://hub.example/api/events?name={FIRST}",
    ],
)
def test_query_strings_are_cut_from_every_message(message):
    record = logging.LogRecord("any", logging.ERROR, __file__, 1, message, None, None)
    entry = json.loads(JsonFormatter().format(record))

    assert not leaks(entry["message"])
    assert "/patients/search/" in entry["message"] or "/api/events" in entry["message"]


def test_logging_config_sends_everything_through_the_json_formatter():
    config = logging_config("info")

    assert config["root"]["level"] == "INFO"
    assert config["formatters"]["json"]["()"] is JsonFormatter
    assert config["loggers"][ACCESS_LOGGER]["level"] == "INFO"  # every request, whatever LOG_LEVEL
    # Never SQL with its parameters, nor a template context, even at DEBUG.
    assert config["loggers"]["django.db.backends"]["level"] == "INFO"
    assert config["loggers"]["django.template"]["level"] == "INFO"
    # Django's own plain handlers (runserver's request line among them) are replaced.
    assert config["loggers"]["django.server"]["handlers"] == []


# --- The request id ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_request_id_is_echoed_and_on_the_access_line(client, log_lines):
    response = client.get("/health", HTTP_X_REQUEST_ID="proxy-4f2a.17")

    assert response["X-Request-ID"] == "proxy-4f2a.17"
    access = [e for e in parsed(log_lines) if e["logger"] == ACCESS_LOGGER]
    assert access == [
        {
            "time": access[0]["time"],
            "level": "INFO",
            "logger": ACCESS_LOGGER,
            "message": f"GET /health {response.status_code}",
            "request_id": "proxy-4f2a.17",
            "method": "GET",
            "path": "/health",
            "status": response.status_code,
            "duration_ms": access[0]["duration_ms"],
        }
    ]
    assert isinstance(access[0]["duration_ms"], float)


@pytest.mark.django_db
@pytest.mark.parametrize("sent", [None, "", f"{FIRST} {LAST}", "x" * 65, 'a"b'])
def test_a_missing_or_odd_request_id_is_replaced_by_a_new_one(client, log_lines, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    first = client.get("/health", **headers)["X-Request-ID"]
    second = client.get("/health", **headers)["X-Request-ID"]

    assert len(first) == 32 and int(first, 16) >= 0 and first != second
    assert not leaks(log_lines.getvalue())


# --- Through a live server --------------------------------------------------------------------


@pytest.fixture
def runserver(transactional_db) -> Iterator[str]:
    """The app behind Django's runserver request handler, which logs every request line."""
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler, ipv6=False)
    server.set_app(get_wsgi_application())

    def serve() -> None:
        try:
            server.serve_forever()
        finally:
            connections.close_all()  # this thread's: the test database is dropped at the end

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(10)
    server.server_close()


def signed_in(django_user_model, role: str = "front_desk") -> tuple[object, dict[str, str]]:
    user = make_user(django_user_model, f"desk-{role}", role)
    client = Client()
    client.force_login(user)
    return user, {"sessionid": client.cookies["sessionid"].value}


def test_patient_search_and_page_through_a_live_server_leave_no_patient_data_in_logs(
    runserver, small_clinic, django_user_model, log_lines
):
    patient = private_patient(small_clinic["clinic"])
    user, cookies = signed_in(django_user_model)
    hx = {"HX-Request": "true"}
    searches = [
        f"{runserver}/patients/search/?q={LAST}",
        f"{runserver}/patients/search/?q={FIRST}+{LAST}",
        f"{runserver}/patients/search/?q=5557781",
        f"{runserver}/waitlist/?q={LAST}",
    ]
    answers = [requests.get(url, cookies=cookies, headers=hx, timeout=10) for url in searches[:3]]
    answers.append(
        requests.get(searches[3], cookies=cookies, headers={**hx, "HX-Target": "patient-results"}, timeout=10)
    )
    answers.append(requests.get(f"{runserver}/patients/{patient.code}/", cookies=cookies, timeout=10))
    answers.append(requests.get(f"{runserver}/patients/p-none/?q={LAST}", cookies=cookies, timeout=10))

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 404]
    assert all(LAST in a.text for a in answers[:5])  # the pages did show the patient
    entries = parsed(log_lines)
    assert not leaks(log_lines.getvalue()), log_lines.getvalue()
    access = [e for e in entries if e["logger"] == ACCESS_LOGGER]
    assert [(e["method"], e["path"], e["status"]) for e in access] == [
        ("GET", "/patients/search/", 200),
        ("GET", "/patients/search/", 200),
        ("GET", "/patients/search/", 200),
        ("GET", "/waitlist/", 200),
        ("GET", f"/patients/{patient.code}/", 200),
        ("GET", "/patients/p-none/", 404),
    ]
    assert {e["user_id"] for e in access} == {user.pk}
    assert [e["request_id"] for e in access] == [a.headers["X-Request-ID"] for a in answers]
    # runserver's own request lines are there too, their query strings cut.
    served = [e["message"] for e in entries if e["logger"] == "django.server"]
    assert f'"GET /patients/{patient.code}/ HTTP/1.1" 200' in " ".join(served)
    assert any('"GET /patients/search/ HTTP/1.1" 200' in m for m in served)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(database: dict) -> str:
    """The test database as a URL for a child process: over TCP, or through the embedded
    server's socket directory (its HOST is empty and the directory is in OPTIONS)."""
    socket_dir = database.get("OPTIONS", {}).get("host")
    if not database["HOST"] and socket_dir:
        return f"postgres://{database['USER']}:{database['PASSWORD']}@/{database['NAME']}?host={socket_dir}"
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}"
        f":{database['PORT'] or 5432}/{database['NAME']}"
    )


FEED_TOKEN = "FeedTokenThatMustNotBeLogged0123456789abcdef"


def test_gunicorn_with_its_config_writes_json_lines_without_query_strings(
    transactional_db, small_clinic, django_user_model, settings
):
    settings.SECRET_KEY = secrets.token_urlsafe(50)  # a production one: gunicorn runs with DEBUG off
    patient = private_patient(small_clinic["clinic"])
    _, cookies = signed_in(django_user_model)
    port = free_port()
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "SECRET_KEY": settings.SECRET_KEY,  # the session cookie is signed with it
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "INFO",
    }
    env.pop("PYTEST_VERSION", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "clinic.wsgi",
            "-b",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        root = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                requests.get(f"{root}/health", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        search = requests.get(
            f"{root}/patients/search/?q={LAST}", cookies=cookies, headers={"HX-Request": "true"}, timeout=10
        )
        page = requests.get(f"{root}/patients/{patient.code}/?from={FIRST}", cookies=cookies, timeout=10)
        # A calendar feed's URL is its credential: its token stays out of every log line.
        feed = requests.get(f"{root}/calendar/{FEED_TOKEN}.ics", timeout=10)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=20)

    assert search.status_code == 200 and LAST in search.text
    assert page.status_code == 200 and LAST in page.text
    lines = [json.loads(line) for line in (out + err).splitlines() if line.strip()]
    assert not leaks(out + err), out + err
    access = {e["path"]: e for e in lines if e["logger"] == "gunicorn.access"}
    assert access["/patients/search/"]["request_id"] == search.headers["X-Request-ID"]
    assert access["/patients/search/"]["status"] == 200 and access["/patients/search/"]["method"] == "GET"
    assert access[f"/patients/{patient.code}/"]["request_id"] == page.headers["X-Request-ID"]
    assert {"/patients/search/", f"/patients/{patient.code}/"} <= {
        e["path"] for e in lines if e["logger"] == ACCESS_LOGGER
    }
    assert feed.status_code == 404 and FEED_TOKEN not in out + err
    assert access["/calendar/<token>.ics"]["request_id"] == feed.headers["X-Request-ID"]


# --- The notification hub ---------------------------------------------------------------------


class TalkativeHub:
    """A hub whose error answers quote the event back, patient's name and e-mail included."""

    def __init__(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def echo(code: str) -> dict:
    return {
        "error": {
            "code": code,
            "message": f"recipient {FIRST} {LAST} <{EMAIL}> refused",
            "details": {"payload": {"patient": {"first_name": FIRST, "email": EMAIL, "phone": PHONE}}},
        }
    }


def pending_event(clinic):
    """An event of an appointment of the private patient; the hub must be configured."""
    appointment = AppointmentFactory(
        clinic=clinic,
        patient=private_patient(clinic),
        appointment_type=AppointmentTypeFactory(clinic=clinic),
        provider=ProviderFactory(clinic=clinic),
        room=RoomFactory(clinic=clinic),
        start=dt.datetime(2027, 3, 8, 8, 0, tzinfo=dt.UTC),
        note=NOTE,
    )
    with transaction.atomic():
        return record_event(event_type="appointment.booked", appointment=appointment)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "code", "logged"),
    [
        (400, "invalid_recipient", "with 400 (invalid_recipient), not retrying"),
        (503, "overloaded", "503, overloaded"),
    ],
)
def test_the_hubs_answer_is_logged_as_status_and_error_code_only(
    settings, clinic, log_lines, status, code, logged
):
    hub = TalkativeHub(status, echo(code))
    settings.NOTIFICATION_HUB_URL = hub.url
    try:
        event = pending_event(clinic)
        deliver_event(event.pk)
    finally:
        hub.stop()

    event.refresh_from_db()
    assert event.status == (OutboxStatus.FAILED if status == 400 else OutboxStatus.PENDING)
    assert LAST in event.last_error  # kept for the admin, as before
    hub_lines = [e for e in parsed(log_lines) if e["logger"] == delivery.__name__]
    assert len(hub_lines) == 1 and logged in hub_lines[0]["message"]
    assert not leaks(log_lines.getvalue()), log_lines.getvalue()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"error": {"code": "invalid_payload", "message": "Henrietta Quenzelmaier"}}', "invalid_payload"),
        ('{"error": "unauthorized"}', "unauthorized"),
        ('{"code": "RATE_LIMITED", "detail": "Henrietta"}', "RATE_LIMITED"),
        ('{"error": "Henrietta Quenzelmaier is not a valid recipient"}', "-"),
        ('{"detail": [{"msg": "bad", "input": "Henrietta"}]}', "-"),
        ('{"error": {"code": "x y z"}}', "-"),
        ("<html>Bad Gateway for Henrietta</html>", "-"),
        ('["invalid"]', "-"),
        ("", "-"),
    ],
)
def test_only_a_code_like_word_is_taken_from_the_hubs_answer(body, code):
    assert hub_error_code(body) == code

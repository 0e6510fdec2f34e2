"""Safe production defaults (issue 9, items 3 and 4).

The settings are read once per process, so what a deployment gets is checked in fresh
processes with the environment a deployment would have (without pytest's PYTEST_VERSION,
which lets the suite itself run on the development key and the embedded server). What the
settings do with a request is checked in-process, with the values those processes read.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from clinic.settings import DEV_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = secrets.token_urlsafe(50)
# Never connected to: settings, `check` and `check --deploy` only parse it.
SOME_DATABASE = "postgres://clinic:secret@db.example.org:5432/clinic"
# What README.md ("Operations and security") tells a deployment to set, and nothing else.
PRODUCTION = {"SECRET_KEY": GOOD_KEY, "DATABASE_URL": SOME_DATABASE, "ALLOWED_HOSTS": "clinic.example.org"}
# A deployment's environment holds none of the test run's variables (PYTEST_VERSION,
# DJANGO_ALLOW_ASYNC_UNSAFE, DATABASE_URL, ...): only these are passed on.
PASSED_ON = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "EMBEDDED_PG_DIR")


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k in PASSED_ON}
    clean["DJANGO_SETTINGS_MODULE"] = "clinic.settings"
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run(["manage.py", *args], **env)


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The ImproperlyConfigured message a process died with."""
    assert result.returncode != 0, result.stdout
    found = re.search(r"ImproperlyConfigured: (.*)", result.stderr)
    assert found, result.stderr[-2000:]
    return found.group(1)


SECURITY_SETTINGS = (
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_AGE",
    "SESSION_SAVE_EVERY_REQUEST",
    "SILENCED_SYSTEM_CHECKS",
)


def settings_of(**env: str) -> dict:
    """The security settings a process with ``env`` gets."""
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{k: getattr(settings, k) for k in {SECURITY_SETTINGS!r}}}))"
    )
    result = run(["-c", code], **env)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


# --- Item 3: fail fast ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": SOME_DATABASE}, "SECRET_KEY is not set"),
        ({"DATABASE_URL": SOME_DATABASE, "SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"DATABASE_URL": SOME_DATABASE, "SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY is the development key"),
        ({"DATABASE_URL": SOME_DATABASE, "SECRET_KEY": "x" * 49}, "SECRET_KEY is shorter than 50 characters"),
        ({"DATABASE_URL": SOME_DATABASE, "SECRET_KEY": "ab" * 30}, "SECRET_KEY has fewer than 5 different"),
        ({"DATABASE_URL": SOME_DATABASE, "SECRET_KEY": "change-me"}, "SECRET_KEY is shorter than 50"),
        ({"SECRET_KEY": GOOD_KEY}, "DATABASE_URL is not set"),
        ({"SECRET_KEY": GOOD_KEY, "DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ({"SECRET_KEY": GOOD_KEY, "DEBUG": "false", "EMBEDDED_DB": "0"}, "DATABASE_URL is not set"),
        # A stray PYTEST_VERSION in a deployment's environment is no way around it.
        ({"DATABASE_URL": SOME_DATABASE, "PYTEST_VERSION": "9.0"}, "SECRET_KEY is not set"),
    ],
)
def test_a_command_refuses_to_start_without_a_usable_secret_key_or_database(env, message):
    assert refusal(manage("check", **env)).startswith(message)


def test_the_server_and_the_worker_refuse_to_start_too():
    assert refusal(run(["-c", "import clinic.wsgi"])).startswith("SECRET_KEY is not set")
    worker = manage("qcluster", SECRET_KEY=GOOD_KEY)
    assert refusal(worker).startswith("DATABASE_URL is not set")


def test_the_refusal_says_what_to_set():
    message = refusal(manage("check", SECRET_KEY=GOOD_KEY))
    assert "DATABASE_URL" in message and "EMBEDDED_DB=1" in message and "DEBUG=true" in message
    message = refusal(manage("check", DATABASE_URL=SOME_DATABASE))
    assert "Set SECRET_KEY in the environment" in message


def test_production_settings_start():
    result = manage("check", **PRODUCTION)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_embedded_server_starts_with_debug_or_when_asked_for_by_name():
    # No DATABASE_URL: the embedded server (already running when the suite uses it).
    for env in ({"DEBUG": "true"}, {"EMBEDDED_DB": "1", "SECRET_KEY": GOOD_KEY}):
        result = manage("check", **env)
        assert result.returncode == 0, (env, result.stderr[-2000:])


def test_deploy_check_warns_about_the_embedded_server():
    result = manage("check", "--deploy", EMBEDDED_DB="1", SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="x.example.org")
    assert "clinic.W001" in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["create_demo_login", "seed_demo"])
def test_the_demo_commands_refuse_without_debug(command, settings, django_user_model):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG=true"):
        call_command(command)
    assert not django_user_model.objects.exists()


# --- Item 4: transport ----------------------------------------------------------------------


def test_check_deploy_is_clean_with_the_documented_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_is_on_by_default_without_debug():
    s = settings_of(**PRODUCTION)
    assert s["DEBUG"] is False
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_REDIRECT_EXEMPT"] == ["^health$"]
    assert s["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False and s["SECURE_HSTS_PRELOAD"] is False
    assert s["SESSION_COOKIE_SECURE"] is True and s["CSRF_COOKIE_SECURE"] is True
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert sorted(s["SILENCED_SYSTEM_CHECKS"]) == ["security.W005", "security.W021"]


def test_https_false_switches_all_of_it_off_and_check_deploy_says_so():
    s = settings_of(**PRODUCTION, HTTPS="false")
    assert not s["SECURE_SSL_REDIRECT"] and not s["SECURE_HSTS_SECONDS"]
    assert not s["SESSION_COOKIE_SECURE"] and not s["CSRF_COOKIE_SECURE"]
    assert s["SECURE_PROXY_SSL_HEADER"] is None
    result = manage("check", "--deploy", **PRODUCTION, HTTPS="false")
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_hsts_options_and_the_proxy_header_follow_the_environment():
    s = settings_of(
        **PRODUCTION,
        HSTS_SECONDS="600",
        HSTS_INCLUDE_SUBDOMAINS="true",
        HSTS_PRELOAD="true",
        PROXY_SSL_HEADER="X-Forwarded-Scheme",
    )
    assert s["SECURE_HSTS_SECONDS"] == 600
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True and s["SECURE_HSTS_PRELOAD"] is True
    assert s["SILENCED_SYSTEM_CHECKS"] == []
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_SCHEME", "https"]
    assert settings_of(**PRODUCTION, PROXY_SSL_HEADER="")["SECURE_PROXY_SSL_HEADER"] is None


def test_debug_runs_plain_http():
    s = settings_of(DEBUG="true", DATABASE_URL=SOME_DATABASE)
    assert not s["SECURE_SSL_REDIRECT"] and not s["SESSION_COOKIE_SECURE"]


@pytest.fixture
def production_transport(settings):
    """This process's settings switched to what a production process reads."""
    for name, value in settings_of(**PRODUCTION).items():
        if name != "DEBUG":
            setattr(settings, name, tuple(value) if name == "SECURE_PROXY_SSL_HEADER" else value)
    settings.ALLOWED_HOSTS = ["clinic.example.org"]
    return settings


@pytest.mark.django_db
def test_production_redirects_to_https_sends_hsts_and_secure_cookies(client, production_transport):
    host = {"HTTP_HOST": "clinic.example.org"}
    response = client.get("/login/", **host)
    assert response.status_code == 301 and response["Location"] == "https://clinic.example.org/login/"

    response = client.get("/login/", secure=True, **host)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert response.cookies["csrftoken"]["secure"]

    # Behind the TLS proxy: its header says the request came in over HTTPS.
    behind_proxy = client.get("/login/", HTTP_X_FORWARDED_PROTO="https", **host)
    assert behind_proxy.status_code == 200


@pytest.mark.django_db
def test_the_health_check_answers_over_plain_http(client, production_transport):
    # The container's HEALTHCHECK asks http://127.0.0.1:8000/health from inside.
    assert client.get("/health", HTTP_HOST="clinic.example.org").status_code == 200


# --- Item 4: sessions -----------------------------------------------------------------------


def test_a_session_lasts_a_working_day_of_inactivity():
    s = settings_of(**PRODUCTION)
    assert s["SESSION_COOKIE_AGE"] == 10 * 3600 and s["SESSION_SAVE_EVERY_REQUEST"] is True
    assert settings_of(**PRODUCTION, SESSION_COOKIE_AGE="3600")["SESSION_COOKIE_AGE"] == 3600


@pytest.mark.django_db
def test_every_request_moves_the_session_expiry_on_and_an_idle_one_ends(admin_client):
    import datetime as dt

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    session = Session.objects.get()
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() + dt.timedelta(hours=1))
    assert admin_client.get("/admin/").status_code == 200
    expiry = Session.objects.get(pk=session.pk).expire_date
    assert expiry > timezone.now() + dt.timedelta(hours=9, minutes=59)

    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = admin_client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]

"""Settings, read from the environment (and a ``.env`` file); see ``.env.example``."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from clinic.observability import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# With DEBUG off, a process (server, worker or command) refuses to start when a secret or
# the database is missing, rather than run insecurely. Two kinds of run import these
# settings without serving anyone and keep the development fallbacks with DEBUG off:
# pytest (it sets PYTEST_VERSION for the length of its run; the suite runs with DEBUG off,
# as production does), and mypy's Django plugin, which imports the settings to read the
# models' types. Both need their module imported as well as the variable, so a stray
# PYTEST_VERSION in a deployment's environment changes nothing.
TESTING = "PYTEST_VERSION" in os.environ and "pytest" in sys.modules
TYPE_CHECKING_RUN = "mypy" in sys.modules
REFUSE_INSECURE = not (DEBUG or TESTING or TYPE_CHECKING_RUN)

# Development default only: with DEBUG off it is refused, like any key shorter than 50
# characters (what `manage.py check --deploy` asks for).
DEV_SECRET_KEY = "insecure-dev-key-change-me-in-production-0123456789"
SECRET_KEY_MIN_LENGTH = 50


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` must not sign a production deployment's sessions and tokens, or None."""
    if not key:
        return "is not set"
    if key == DEV_SECRET_KEY:
        return "is the development key"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(key)) < 5:
        return "has fewer than 5 different characters"
    return None


SECRET_KEY = env.str("SECRET_KEY", default="")
if REFUSE_INSECURE and (problem := secret_key_problem(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"SECRET_KEY {problem}. Set SECRET_KEY in the environment to a long random string, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))' (or DEBUG=true for development)."
    )
SECRET_KEY = SECRET_KEY or DEV_SECRET_KEY
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "django_q",
    "ninja",
    # Login throttling (the admin's and the front desk's), its attempts shown in the admin.
    "axes",
    # The Content-Security-Policy header (CONTENT_SECURITY_POLICY below).
    "csp",
    "clinic",
    "scheduling",
    "notifications",
    "desk",
    "audit",
    "fhir",
    "calendars",
    "offers",
]

MIDDLEWARE = [
    # First: its request id and timing cover every other middleware.
    "clinic.observability.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The embedded server (trust authentication, data under ./var) is for development: with
# DEBUG off it starts only when asked for by name, never because DATABASE_URL was forgotten.
EMBEDDED_DB = env.bool("EMBEDDED_DB", default=False)
DATABASE_IS_EMBEDDED = not env.str("DATABASE_URL", default="")
if not DATABASE_IS_EMBEDDED:
    DATABASES = {"default": env.db("DATABASE_URL")}
elif REFUSE_INSECURE and not EMBEDDED_DB:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Set DATABASE_URL to the PostgreSQL server, e.g. "
        "postgres://user:password@db.example.org:5432/clinic; the embedded development server "
        "starts only with DEBUG=true or EMBEDDED_DB=1."
    )
else:
    from clinic.embedded_db import embedded_database_url

    DATABASES = {"default": env.db_url_config(embedded_database_url(BASE_DIR))}
# Persistent connections: opening one costs more than a whole slot search on a small
# clinic. Health checks drop a connection the server has closed instead of failing on it.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Prepared statements: with server-side binding, psycopg prepares a statement the fifth time
# a connection runs it, so the hot ones (the token, the bookings, a booking's writes) skip
# PostgreSQL's planning, which cost more than their execution (about 0.8 ms of a 5 ms slot
# search). Behind a pooler in transaction mode (PgBouncer) set DATABASE_PREPARED=false.
if env.bool("DATABASE_PREPARED", default=True):
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# The staff UI's own login page; the admin keeps its own.
LOGIN_URL = "desk:login"
LOGIN_REDIRECT_URL = "desk:board"
LOGOUT_REDIRECT_URL = "desk:login"

# --- Operations and security (README: "Operations and security") --------------------------

# A staff session ends after a working day without a request: every request moves the
# expiry on, so a desk working a long shift is never logged out mid-morning, and a browser
# left logged in overnight or over a weekend is. The cost is one UPDATE of the session's
# row per request of a logged-in user (API calls with a token have no session).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=10 * 60 * 60)
SESSION_SAVE_EVERY_REQUEST = True

# HTTPS: redirect, HSTS, secure cookies and the proxy's scheme header, on by default with
# DEBUG off and switched off together by HTTPS=false (a plain-HTTP run on a trusted network).
HTTPS = env.bool("HTTPS", default=REFUSE_INSECURE)
if HTTPS:
    SECURE_SSL_REDIRECT = True
    # The container's health check asks http://127.0.0.1:8000/health from inside.
    SECURE_REDIRECT_EXEMPT = [r"^health$"]
    SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=365 * 24 * 60 * 60)
    # Off by default: includeSubDomains binds every host under this one, which this
    # application neither knows nor controls, and preloading puts the domain into the
    # browsers' built-in lists, hard to undo. Both are the domain owner's decision; while
    # they are off on purpose, check --deploy's reminders of them (W005, W021) are silenced.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("HSTS_PRELOAD", default=False)
    SILENCED_SYSTEM_CHECKS = [
        *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # gunicorn speaks plain HTTP, so TLS ends at a proxy in front of it, which must set this
    # header itself (overwriting any a client sent). Empty: no proxy header is trusted.
    PROXY_SSL_HEADER = env.str("PROXY_SSL_HEADER", default="X-Forwarded-Proto")
    if PROXY_SSL_HEADER:
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + PROXY_SSL_HEADER.upper().replace("-", "_"), "https")

# Content-Security-Policy (django-csp): nothing from another origin, no inline script and no
# eval (the front desk's JavaScript is static files; htmx runs with allowEval off; the
# admin and the API docs' Swagger UI, served from ninja's own static files, need neither).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        # 'unsafe-inline' for styles only, and only because the day board positions its
        # blocks, shades and hour marks with style attributes (top, height, left, width
        # computed on the server). It allows no script.
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# Login throttling (django-axes), the admin's login and the front desk's alike: after
# LOGIN_FAILURE_LIMIT failures for one username from one address, that pair is refused for
# LOGIN_LOCKOUT_MINUTES, counted from the lockout (attempts during it do not prolong it), on
# the front desk's login page with the reason. The attempts and lockouts are in the admin
# under "Axes"; deleting an attempt there lifts its lockout.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "desk/login.html"
# Behind proxies REMOTE_ADDR is the nearest proxy's, the same for every client. With
# TRUSTED_PROXIES=N (the proxies in front, each appending the address it saw to
# X-Forwarded-For) the throttle counts the address the outermost proxy saw; entries left of
# it are whatever the client sent and are never trusted.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)


def client_address(request: Any) -> str | None:
    from django.conf import settings

    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if settings.TRUSTED_PROXIES and len(hops) >= settings.TRUSTED_PROXIES:
        return hops[-settings.TRUSTED_PROXIES]
    return request.META.get("REMOTE_ADDR")


AXES_CLIENT_IP_CALLABLE = client_address

REDIS_URL = env.str("REDIS_URL", default="")
# Redis down never fails a request or loses a booking (README, "Operations and security"):
# the API's rate limit counts in each process's memory until Redis answers again
# (clinic/api.py, ApiThrottle), and a booking's event stays pending in the outbox until a
# cluster can run again. Short timeouts, so a Redis that hangs costs a request at most
# about a second, not the operating system's connect timeout of minutes.
REDIS_TIMEOUT_SECONDS = 0.5
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
            },
        }
    }

# django-q2: the ORM broker by default (nothing else to run); Redis when REDIS_URL is set.
# `retry` must exceed `timeout`, or a slow task is started twice.
Q_CLUSTER = {
    "name": "clinic",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 60,
    "retry": 120,
    "max_attempts": 1,
    "catch_up": False,
    "label": "Tasks",
}
if REDIS_URL:
    # A connect timeout only: the cluster's workers wait on the queue with blocking reads.
    Q_CLUSTER["redis"] = (
        f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}socket_connect_timeout={REDIS_TIMEOUT_SECONDS}"
    )
else:
    Q_CLUSTER["orm"] = "default"

# How often an open day board asks for changes made at other desks, in seconds.
DESK_POLL_SECONDS = env.int("DESK_POLL_SECONDS", default=30)

# Where patients reach this site, for the links sent to them (a waitlist offer's accept
# link): messages leave through the hub from a task, with no request to take the host from.
# Default: runserver's address with DEBUG, else https://<first of ALLOWED_HOSTS> (http://
# with HTTPS=false).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/") or (
    "http://127.0.0.1:8000"
    if DEBUG
    else f"{'https' if HTTPS else 'http'}://{(ALLOWED_HOSTS or ['localhost'])[0].lstrip('.')}"
)
if not PUBLIC_BASE_URL.startswith(("http://", "https://")) or "*" in PUBLIC_BASE_URL:
    raise ImproperlyConfigured(
        f"PUBLIC_BASE_URL must be the site's address patients reach, e.g. https://clinic.example.org, "
        f"not {PUBLIC_BASE_URL!r}: set PUBLIC_BASE_URL (ALLOWED_HOSTS' first entry is not a host name)."
    )

# Requests per authenticated user (or per address) to the JSON API; beyond it: 429.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="1200/m")

NOTIFICATION_HUB_URL = env.str("NOTIFICATION_HUB_URL", default="")
NOTIFICATION_HUB_API_KEY = env.str("NOTIFICATION_HUB_API_KEY", default="")

# JSON lines without patient data (clinic/observability.py); every request's access line.
LOGGING = logging_config(env.str("LOG_LEVEL", default="WARNING"))

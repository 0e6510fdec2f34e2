"""Settings, read from the environment (and a ``.env`` file); see ``.env.example``."""

from __future__ import annotations

from pathlib import Path

import environ

from clinic.observability import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Development default only; production must set SECRET_KEY (see .env.example), and
# `manage.py check --deploy` says so when it is not set.
DEV_SECRET_KEY = "insecure-dev-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
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
    "clinic",
    "scheduling",
    "notifications",
    "desk",
    "audit",
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
    "django_htmx.middleware.HtmxMiddleware",
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

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    from clinic.embedded_db import embedded_database_url

    DATABASES = {"default": env.db_url_config(embedded_database_url(BASE_DIR))}
# Persistent connections: opening one costs more than a whole slot search on a small
# clinic. Health checks drop a connection the server has closed instead of failing on it.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
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

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

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
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# How often an open day board asks for changes made at other desks, in seconds.
DESK_POLL_SECONDS = env.int("DESK_POLL_SECONDS", default=30)

# Requests per authenticated user (or per address) to the JSON API; beyond it: 429.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="1200/m")

NOTIFICATION_HUB_URL = env.str("NOTIFICATION_HUB_URL", default="")
NOTIFICATION_HUB_API_KEY = env.str("NOTIFICATION_HUB_API_KEY", default="")

# JSON lines without patient data (clinic/observability.py); every request's access line.
LOGGING = logging_config(env.str("LOG_LEVEL", default="WARNING"))

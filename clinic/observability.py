"""Logs without patient data: one JSON object per line, and a request id on every request.

What a line may carry is decided here, not at each call site. The formatter writes a fixed
set of fields (never a record's arbitrary ``extra``: Django's ``django.request`` attaches
the request itself, whose ``repr`` holds the full URL) and cuts the query string off every
URL-like text, because patient searches (``?q=Jonas``) and runserver's request lines carry
names and phone numbers there. The access line names the path, never the query.

Importing this module must not need Django's settings: ``gunicorn.conf.py`` loads the
formatter before the application.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from django.utils.functional import empty

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
ACCESS_LOGGER = "clinic.access"

# A request id from a proxy is kept when it looks like one; anything else (too long, spaces,
# quotes, line breaks) is replaced, so a client cannot write sentences into the log through it.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# A path followed by its query string; the query goes, the path stays.
_QUERY_STRING = re.compile(r"(/[^\s?#\"'<>]*)\?[^\s#\"'<>]*")
# The record attributes a line may carry besides time, level, logger, message and request id.
FIELDS = ("user_id", "method", "path", "status", "duration_ms", "status_code")

_current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

access_logger = logging.getLogger(ACCESS_LOGGER)


def without_query_strings(text: str) -> str:
    """``text`` with the query string cut off every URL or path in it."""
    return _QUERY_STRING.sub(r"\1", text) if "?" in text else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and the known fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": without_query_strings(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or _current_request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for name in FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str | int | float):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = without_query_strings(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class GunicornAccessFormatter(JsonFormatter):
    """gunicorn's access line as JSON, built from its atoms rather than from a format string
    (which would not escape a backslash or a control character in a path). The atoms are
    read by name: never ``r`` (the request line), ``q`` (the query) or ``f`` (the referrer),
    which carry query strings."""

    def format(self, record: logging.LogRecord) -> str:
        atoms = record.args
        if not isinstance(atoms, Mapping):
            return super().format(record)
        duration_us = atoms.get("D")
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": _atom(atoms, "{x-request-id}o"),
            "remote": _atom(atoms, "h"),
            "method": _atom(atoms, "m"),
            "path": loggable_path(_atom(atoms, "U")),
            "status": _int_atom(atoms, "s"),
            "bytes": _int_atom(atoms, "B"),
            "duration_ms": round(duration_us / 1000, 1) if isinstance(duration_us, int) else None,
            "user_agent": _atom(atoms, "a"),
        }
        return json.dumps(entry, ensure_ascii=False)


# Paths that are themselves a secret: a calendar feed's URL is its only credential.
_SECRET_PATHS = [(re.compile(r"^/calendar/[^/]+\.ics$"), "/calendar/<token>.ics")]


def loggable_path(path: str | None) -> str | None:
    """The path as a log line may show it: a secret path's token replaced by a stand-in."""
    for pattern, stand_in in _SECRET_PATHS:
        if path is not None and pattern.match(path):
            return stand_in
    return path


def _atom(atoms: Mapping[str, Any], name: str) -> str | None:
    value = atoms.get(name)
    # gunicorn's SafeAtoms escapes quotes for its own format strings; JSON escapes them again.
    return None if value in (None, "-") else str(value).replace('\\"', '"')


def _int_atom(atoms: Mapping[str, Any], name: str) -> int | None:
    try:
        return int(atoms.get(name))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class RequestLogMiddleware:
    """Give each request an id (the proxy's ``X-Request-ID`` when it sent a sane one), echo it
    in the response, put it on every log line written meanwhile, and write one access line:
    request id, user id, method, path (without the query string), status, duration.

    First in ``MIDDLEWARE``, so the duration covers every other middleware. The user id is
    read only when something during the request already looked the user up: looking them up
    here would cost a query on requests that never needed one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "user_id": _user_id(request),
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
        finally:
            _current_request_id.reset(token)
        return response


def _user_id(request: HttpRequest) -> int | None:
    user = request.__dict__.get("user")
    if user is None or getattr(user, "_wrapped", None) is empty:
        return None
    return user.pk if user.is_authenticated else None


def logging_config(level: str) -> dict[str, Any]:
    """The ``LOGGING`` setting: everything as JSON lines on standard error at ``level``, and
    the access line of every request whatever ``level`` is.

    Also sends Python's warnings through logging (the ``py.warnings`` logger), as Django no
    longer does, so that they too arrive as JSON lines rather than as bare text.
    """
    logging.captureWarnings(True)
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's defaults send these to their own plain-text handlers (and runserver's
            # request line, query string included, to django.server's): through the root
            # instead, as JSON, query strings cut.
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": [], "level": level, "propagate": True},
            # Not even at DEBUG: the SQL with its parameters, and a template's failed
            # variable look-ups with the whole context, both hold names and phone numbers.
            "django.db.backends": {"handlers": [], "level": "INFO", "propagate": True},
            "django.template": {"handlers": [], "level": "INFO", "propagate": True},
            ACCESS_LOGGER: {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }

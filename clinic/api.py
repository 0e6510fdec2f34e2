"""The JSON API's frame: authentication, the error envelope, rate limits, shared parsing.

Endpoints live with their apps (``scheduling.api``, ``clinic.api_resources``); this module
mounts them under ``/api/v1/``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from ninja import Field, NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.parser import Parser
from ninja.security import HttpBearer
from ninja.security.session import SessionAuthIsStaff
from ninja.throttling import AuthRateThrottle

from clinic.access import remember_clinics
from clinic.errors import DomainError, ValidationFailed
from clinic.models import ApiToken, Clinic
from clinic.roles import remember_permissions
from clinic.rows import instance_from_json
from clinic.transactions import hosting_services
from scheduling.engine import calendar
from scheduling.models import IDEMPOTENCY_KEY_CONSTRAINT, IdempotencyRecord

logger = logging.getLogger(__name__)

CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "details": details or {}}}, status=status
    )


class ErrorBody(Schema):
    code: str = Field(description="Stable and machine-readable: not_found, slot_taken, validation_error, ...")
    message: str = Field(description="For a person to read.")
    details: dict[str, Any] = Field(
        description="fields (validation_error), conflict (slot_taken), reason (slot_unavailable), ..."
    )


class ErrorOut(Schema):
    """Every refusal and failure the API answers: the error envelope."""

    error: ErrorBody


# What any endpoint may answer besides its success: an unparseable request (400), no or bad
# credentials (401), a role that may not (403), an unknown clinic or object (404), a
# malformed field (422), too many requests (429), the database out of reach (503).
ERRORS = frozenset({400, 401, 403, 404, 422, 429, 503})


def answers(success: dict[int, Any], *more_errors: int) -> dict[Any, Any]:
    """An endpoint's documented answers (django-ninja's ``response=``): ``success`` and the
    error envelope for ``ERRORS`` and ``more_errors`` (409 where a conflict can refuse it,
    413 where it takes a body), so the OpenAPI document names every status it can give."""
    return {**success, ERRORS | frozenset(more_errors): ErrorOut}


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>``; only the token's SHA-256 is stored."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        if not token or len(token) > 200:
            return None
        with connection.cursor() as cursor:
            cursor.execute(TOKEN_SQL, {"key_hash": ApiToken.hash(token)})
            row = cursor.fetchone()
        if row is None:
            return None
        token_pk, last_used_at, user_row, permissions, clinics, deployment_clinics, has_memberships = row
        user = instance_from_json(get_user_model(), user_row)
        if not user.is_active:
            return None
        remember_permissions(user, permissions)
        if isinstance(clinics, str):  # Django leaves JSON unparsed for its own fields
            clinics = json.loads(clinics)
        everywhere = (deployment_clinics, has_memberships)
        remember_clinics(user, [(*row, *everywhere) for row in clinics])
        now = timezone.now()
        # One write a minute at most: a token used for a burst of requests is not a hot row.
        if last_used_at is None or now - last_used_at > dt.timedelta(minutes=1):
            ApiToken.objects.filter(pk=token_pk).update(last_used_at=now)
        request.user = user
        return user


# Every API request starts here, so the token, its user, the user's permissions (through
# roles and granted directly) and the clinics they work for (what clinic.access.scope asks,
# as CLINICS_SQL there does) come back in one hand-written query: the ORM's version of it
# cost more to build than PostgreSQL took to answer. It names the tables of Django's own
# User model, which this project uses. A revoked or expired token, or one whose user was
# deactivated or lost staff status, finds nothing.
TOKEN_SQL = """
SELECT t.id, t.last_used_at, row_to_json(u),
       ARRAY(SELECT ct.app_label || '.' || p.codename
             FROM auth_user_groups ug
             JOIN auth_group_permissions gp ON gp.group_id = ug.group_id
             JOIN auth_permission p ON p.id = gp.permission_id
             JOIN django_content_type ct ON ct.id = p.content_type_id
             WHERE ug.user_id = u.id
             UNION
             SELECT ct.app_label || '.' || p.codename
             FROM auth_user_user_permissions up
             JOIN auth_permission p ON p.id = up.permission_id
             JOIN django_content_type ct ON ct.id = p.content_type_id
             WHERE up.user_id = u.id),
       (SELECT coalesce(json_agg(json_build_array(row_to_json(c), m.provider_id, m.id IS NOT NULL)
                                 ORDER BY c.id), '[]')
        FROM clinic_clinic c
        LEFT JOIN clinic_membership m ON m.clinic_id = c.id AND m.user_id = u.id),
       (SELECT count(*) FROM clinic_clinic),
       EXISTS (SELECT 1 FROM clinic_membership mm WHERE mm.user_id = u.id)
FROM clinic_apitoken t
JOIN auth_user u ON u.id = t.user_id
WHERE t.key_hash = %(key_hash)s
  AND t.revoked_at IS NULL
  AND (t.expires_at IS NULL OR t.expires_at > now())
  AND u.is_active AND u.is_staff
"""


class StaffSession(SessionAuthIsStaff):
    """A logged-in staff member's browser session (with CSRF on unsafe methods).

    django-ninja checks CSRF before it looks at the session, so a request with no
    credentials at all was refused as a forgery (``403``) instead of being told to
    authenticate (``401``). CSRF protects a session: without a staff session there is
    nothing to forge, and this scheme simply does not apply.
    """

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not (user.is_authenticated and user.is_staff):
            return None
        return super().__call__(request)


class JsonOnlyParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        if request.content_type != "application/json":
            raise ValueError("wrong content type")
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data


class ThrottleCounts:
    """Where ``ApiThrottle`` keeps its counts: the default cache (Redis with REDIS_URL, shared
    by every process), or this process's memory while that cache does not answer.

    Redis down must not take the API down with it, nor turn requests into errors: the
    limit then holds per process (each gunicorn worker counts on its own, a looser limit)
    until Redis answers again. After a failure Redis is tried again only after
    ``RETRY_SECONDS``, so an outage costs one failed connection per process and interval,
    not one per request; each failed attempt is logged as a warning.
    """

    RETRY_SECONDS = 5.0

    def __init__(self) -> None:
        from django.core.cache.backends.locmem import LocMemCache

        self._local = LocMemCache("api-throttle", {})
        self._shared_down_until = 0.0

    def get(self, key: str, default: Any = None) -> Any:
        return self._call("get", key, default)

    def set(self, key: str, value: Any, timeout: Any = None) -> None:
        self._call("set", key, value, timeout)

    def _call(self, method: str, *args: Any) -> Any:
        from django.core.cache import cache
        from redis.exceptions import RedisError

        if time.monotonic() >= self._shared_down_until:
            try:
                answer = getattr(cache, method)(*args)
            except (RedisError, OSError) as exc:
                self._shared_down_until = time.monotonic() + self.RETRY_SECONDS
                logger.warning(
                    "The cache does not answer (%s): API rate limits are counted per process for now.",
                    type(exc).__name__,
                )
            else:
                return answer
        return getattr(self._local, method)(*args)


class ApiThrottle(AuthRateThrottle):
    """Requests per user (or address), counted in the cache: per process with the default
    cache, across processes and machines with REDIS_URL (per process while Redis is down:
    ``ThrottleCounts``).

    django-ninja keeps the request being judged (``key``, ``history``, ``now``) on the one
    throttle object every request shares; under a threaded server two requests would mix
    their counts. Here that state lives per thread.
    """

    cache: Any = ThrottleCounts()  # duck-typed: the two methods SimpleRateThrottle calls

    def __init__(self) -> None:
        self._state = threading.local()
        super().__init__(settings.API_RATE_LIMIT)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PER_REQUEST:
            setattr(self._state, name, value)
        else:
            super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        if name in _PER_REQUEST:
            try:
                return getattr(self.__dict__["_state"], name)
            except AttributeError:
                raise AttributeError(name) from None
        raise AttributeError(name)


_PER_REQUEST = frozenset({"key", "history", "now"})


class DocumentedApi(NinjaAPI):
    """django-ninja, with the OpenAPI document saying what the API accepts where ninja's own
    says more.

    An optional body (``cancel``, ``close``) may be left out, but when one is sent it must
    be a JSON object, as every body (``JsonOnlyParser``): ninja documents it as "the object
    or null", and a ``null`` body is answered ``400``.
    """

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        schema = super().get_openapi_schema(**kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                body = operation.get("requestBody")
                if body is None or body.get("required"):
                    continue
                for content in body["content"].values():
                    choices = content["schema"].get("anyOf", [])
                    objects = [choice for choice in choices if choice != {"type": "null"}]
                    if len(objects) == 1 and len(choices) == 2:
                        content["schema"] = objects[0]
        return schema


api = DocumentedApi(
    title="Clinic scheduling engine",
    version="1",
    description="Real-time ranked slots, bookings that cannot double-book, backfill. "
    'Errors are always `{"error": {"code", "message", "details"}}`.',
    auth=[BearerToken(), StaffSession()],
    parser=JsonOnlyParser(),
    throttle=[ApiThrottle()],
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return error_response(exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields: dict[str, str] = {}
    for error in exc.errors:
        location = [
            str(part)
            for part in error.get("loc", ())
            if part not in ("body", "query", "path", "payload", "params")
        ]
        field = ".".join(location) or "body"
        fields.setdefault(field, error.get("msg", "invalid"))
    return error_response(
        422, "validation_error", "Some fields are missing or malformed.", {"fields": fields}
    )


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        401, "unauthorized", "Send a valid API token (Authorization: Bearer ...) or log in."
    )


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = error_response(429, "rate_limited", "Too many requests: slow down and try again shortly.")
    if exc.wait:
        response["Retry-After"] = str(max(1, int(exc.wait)))
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = CODE_BY_STATUS.get(exc.status_code, "bad_request")
    message = str(exc)
    if exc.status_code == 400:
        message = "The request body must be a JSON object sent as Content-Type: application/json."
    return error_response(exc.status_code, code, message)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", str(exc) or "Not found.")


@api.exception_handler(DataError)
def _data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
    # Values PostgreSQL cannot store or compare (a NUL byte, a number out of range) are
    # the client's input, not our failure.
    return error_response(
        422,
        "validation_error",
        "A value in the request cannot be used (out of range, or contains a NUL byte).",
        {"fields": {}},
    )


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request: HttpRequest, exc: OperationalError | InterfaceError) -> HttpResponse:
    # The connection was lost or refused (the server restarted, the backend was killed, the
    # network dropped): the request's transaction did not commit, unless the loss came
    # during the commit itself, which a retry with the same Idempotency-Key settles.
    logger.warning("Database unavailable during %s %s: %s", request.method, request.path, type(exc).__name__)
    if hasattr(request, "session"):
        # A staff session the database could not read would be read again by the session
        # middleware on the way out (it looks at the expiry before skipping the save of a
        # 5xx answer), turning this answer into a 500; nothing of it is saved either way.
        request.session.clear()
    response = error_response(
        503,
        "service_unavailable",
        "The database cannot be reached just now; try again in a moment. A retry with the same"
        " Idempotency-Key is always safe.",
    )
    response["Retry-After"] = "5"
    return response


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return payload_too_large()


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # Too many query or form fields, a malformed multipart body: Django refuses to parse it.
    return error_response(400, "bad_request", "The request cannot be parsed (too many fields?).")


def payload_too_large() -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    details = {"max_bytes": limit} if limit is not None else {}
    return error_response(413, "payload_too_large", "The request body is too large.", details)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error in %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")


@csrf_exempt  # it answers 404 to every method; CSRF must not turn that into an HTML 403
def api_not_found(request: HttpRequest, rest: str | None = None) -> HttpResponse:
    message = f"There is no API endpoint at {request.path}."
    if request.path.endswith("/"):
        try:
            without_slash = resolve(request.path.rstrip("/"))
        except Resolver404:
            pass
        else:
            if without_slash.func is not api_not_found:
                message += f" API paths have no trailing slash: {request.path.rstrip('/')}."
    return error_response(404, "not_found", message)


ERROR_MESSAGES = {
    400: "The request cannot be parsed.",
    403: "This request is refused.",
    404: "Not found.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    500: "Something went wrong on our side; it has been logged.",
}


def as_error_envelope(response: HttpResponse) -> HttpResponse:
    """A non-JSON error answer (django-ninja's plain-text 405, a page of Django's own)
    turned into the API's error envelope; anything else unchanged."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
        return response
    status = response.status_code
    message = ERROR_MESSAGES.get(status, "The request cannot be served.")
    details: dict[str, Any] = {}
    if status == 405 and response.has_header("Allow"):
        details["allowed"] = [m.strip() for m in response["Allow"].split(",")]
        message = f"{message} Allowed: {response['Allow']}."
    envelope = error_response(status, CODE_BY_STATUS.get(status, "internal_error"), message, details)
    if response.has_header("Allow"):
        envelope["Allow"] = response["Allow"]
    return envelope


def json_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap one of django-ninja's views so every error it answers is in the envelope."""

    @functools.wraps(view)  # keeps csrf_exempt and the rest of the view's attributes
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return as_error_envelope(view(request, *args, **kwargs))

    return wrapper


def is_api_path(request: HttpRequest) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


# Dates the API works with, the front desk's range (desk/views/common.py): far from the ends
# of Python's calendar (years 1 and 9999), where a day's end in the clinic's zone, the last
# day of a search or an appointment's end would not exist.
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)


def check_dates(**dates: dt.date | None) -> None:
    """A ``validation_error`` naming every given date outside FIRST_DATE..LAST_DATE."""
    problems = {
        field: f"Choose a date between {FIRST_DATE} and {LAST_DATE}."
        for field, value in dates.items()
        if value is not None and not FIRST_DATE <= value <= LAST_DATE
    }
    if problems:
        raise ValidationFailed(problems)


def parse_aware(value: str, field: str) -> dt.datetime:
    """An ISO 8601 datetime that must carry an offset or ``Z``."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed({field: "Not an ISO 8601 datetime."}) from exc
    if moment.tzinfo is None:
        raise ValidationFailed({field: "The datetime needs an offset or Z, e.g. 2027-03-08T09:00:00+01:00."})
    check_dates(**{field: moment.date()})  # before any arithmetic or zone conversion
    return moment


def local_iso(moment: dt.datetime, clinic: Clinic) -> str:
    return calendar.local_iso(moment, clinic.tz)


def idempotent(
    request: HttpRequest, produce: Callable[[], tuple[int, dict[str, Any]]], *, clinic: Clinic
) -> Any:
    """Run ``produce`` (a creating POST's service call: ``(status, body)``) once per
    ``Idempotency-Key``; a repeat of the request gets the first answer again.

    A key belongs to one user, clinic, method and path. Its record is inserted first, in
    the transaction ``produce`` then writes its change in (``hosting_services``), and
    completed with the answer before the commit: change and answer commit or roll back
    together, so a retry after any failure finds either the answer or nothing done. A
    concurrent repeat waits at its own insert (the unique constraint) until the first
    request's transaction ends, then replays its answer (or, if it rolled back, runs
    itself). A refusal stores nothing: the corrected request may reuse the key.
    """
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return Status(*produce())
    if len(key) > 255:
        raise ValidationFailed({"Idempotency-Key": "At most 255 characters."})
    fingerprint = hashlib.sha256(request.body).hexdigest()
    scope = {
        "user": request.user,
        "clinic": clinic,
        "method": request.method,
        "path": request.path,
        "key": key,
    }
    with hosting_services():
        try:
            with transaction.atomic():  # a savepoint: the repeat's transaction goes on
                record = IdempotencyRecord.objects.create(**scope, fingerprint=fingerprint)
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
            if constraint != IDEMPOTENCY_KEY_CONSTRAINT:
                raise
        else:
            status, body = produce()
            record.status_code, record.body = status, body
            record.save(update_fields=["status_code", "body"])
            return Status(status, body)
    # A repeat: the first request has committed (its insert was waited for), so its
    # record is complete.
    previous = IdempotencyRecord.objects.get(**scope)
    if previous.fingerprint != fingerprint:
        raise ValidationFailed({"Idempotency-Key": "This key was already used for a different request."})
    return JsonResponse(previous.body, status=previous.status_code, headers={"Idempotent-Replayed": "true"})

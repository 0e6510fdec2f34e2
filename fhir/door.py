"""The FHIR door's frame: who is calling, what they sent, and errors as OperationOutcome.

Every FHIR request authenticates as a JSON API request does (the API's own schemes: a
Bearer token, or a staff session with CSRF on unsafe methods) and counts against the same
per-user rate limit; ``clinic.access.scope`` then decides the clinic and what the caller
may do there. Every answer, success or refusal, is ``application/fhir+json``; a refusal is
an OperationOutcome whose issue carries this project's stable error code
(``details.coding``, system ``ERROR_SYSTEM``) and a message a person can read.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from ninja.errors import HttpError

from clinic.access import Scope, scope
from clinic.api import api
from clinic.errors import BadRequest, DomainError
from fhir.ids import ERROR_SYSTEM

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
# What a body may be sent as: FHIR's own type, or plain JSON (what most HTTP clients send).
JSON_TYPES = frozenset({FHIR_JSON, "application/json"})
PATCH_TYPES = frozenset({"application/json-patch+json", "application/merge-patch+json"})


class UnsupportedMediaType(DomainError):
    status, code = 415, "unsupported_media_type"


class NotAcceptable(DomainError):
    status, code = 406, "not_acceptable"


class TooCostly(DomainError):
    """A search this server will not run at once (too many days)."""

    status, code = 400, "too_costly"


# The FHIR issue type (http://hl7.org/fhir/issue-type) of each of this project's error codes.
ISSUE_TYPE = {
    "bad_request": "invalid",
    "unauthorized": "login",
    "forbidden": "forbidden",
    "not_found": "not-found",
    "method_not_allowed": "not-supported",
    "not_acceptable": "not-supported",
    "slot_taken": "conflict",
    "invalid_transition": "business-rule",
    "payload_too_large": "too-long",
    "unsupported_media_type": "not-supported",
    "validation_error": "invalid",
    "slot_unavailable": "business-rule",
    "too_costly": "too-costly",
    "rate_limited": "throttled",
    "internal_error": "exception",
    "service_unavailable": "transient",
}


def fhir_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    """A FHIR JSON answer (serialized by orjson: a page of Slots is the hot path)."""
    return HttpResponse(orjson.dumps(body), status=status, content_type=FHIR_JSON, headers=headers)


def outcome(
    status: int,
    code: str,
    message: str,
    *,
    fields: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """An OperationOutcome answer: one issue, or one per field that is wrong.

    A field named as a FHIRPath (``Appointment.slot``) is the issue's ``expression``; a
    field of the booking service (``start``) is named in ``diagnostics``."""
    coding = {"system": ERROR_SYSTEM, "code": code}
    issue_type = ISSUE_TYPE.get(code, "processing")
    extra = "; ".join(f"{key}: {value}" for key, value in sorted((details or {}).items()) if key != "fields")
    issues: list[dict[str, Any]] = []
    for field, problem in (fields or {}).items():
        issue: dict[str, Any] = {
            "severity": "error",
            "code": issue_type,
            "details": {"coding": [coding], "text": problem},
        }
        if field[:1].isupper():
            issue["expression"] = [field]
        else:
            issue["diagnostics"] = f"{field}: {problem}"
        issues.append(issue)
    if not issues:
        issue = {"severity": "error", "code": issue_type, "details": {"coding": [coding], "text": message}}
        if extra:
            issue["diagnostics"] = extra
        issues.append(issue)
    return fhir_response({"resourceType": "OperationOutcome", "issue": issues}, status, headers)


def refusal(exc: DomainError) -> HttpResponse:
    return outcome(exc.status, exc.code, exc.message, fields=exc.details.get("fields"), details=exc.details)


def unauthorized() -> HttpResponse:
    return outcome(
        401,
        "unauthorized",
        "Send a valid API token (Authorization: Bearer ...) or log in.",
        headers={"WWW-Authenticate": 'Bearer realm="fhir"'},
    )


def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return outcome(404, "not_found", f"There is nothing at {request.path} on this FHIR server.")


def _authenticate(request: HttpRequest) -> Any:
    """The caller, by the JSON API's own authentication (its schemes, in its order), or
    None. A staff session's unsafe request without a CSRF token is refused (403)."""
    for callback in api.auth or ():  # type: ignore[union-attr]
        caller = callback(request)
        if caller:
            request.auth = caller  # type: ignore[attr-defined]
            return caller
    return None


def _throttled(request: HttpRequest) -> HttpResponse | None:
    """The JSON API's rate limit, counted together with the caller's API requests."""
    waits = [throttle.wait() for throttle in api.throttle or () if not throttle.allow_request(request)]  # type: ignore[union-attr]
    if not waits:
        return None
    wait = max((w for w in waits if w is not None), default=None)
    headers = {"Retry-After": str(max(1, math.ceil(wait)))} if wait else None
    return outcome(
        429, "rate_limited", "Too many requests: slow down and try again shortly.", headers=headers
    )


def _check_format(request: HttpRequest) -> None:
    """JSON only: ``_format`` or an ``Accept`` that asks for XML alone is a 406."""
    wanted = request.GET.get("_format")
    if wanted is not None and wanted not in ("json", "application/json", FHIR_JSON):
        raise NotAcceptable("This server speaks FHIR JSON only (_format=json).")
    accept = request.headers.get("Accept", "")
    if "xml" in accept and "json" not in accept and "*/*" not in accept:
        raise NotAcceptable("This server speaks FHIR JSON only (Accept: application/fhir+json).")


Handler = Callable[..., HttpResponseBase]


def endpoint(handlers: dict[str, Handler], *, public: bool = False) -> Callable[..., HttpResponseBase]:
    """A view answering ``handlers`` by HTTP method, after authentication and the rate
    limit (``public``: neither), every refusal and failure as an OperationOutcome."""
    allowed = ", ".join(sorted(handlers))

    @csrf_exempt  # a token has no cookie to forge; a session's CSRF is the API scheme's check
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        try:
            handler = handlers.get(request.method or "")
            if handler is None:
                return outcome(
                    405,
                    "method_not_allowed",
                    f"This method is not allowed here. Allowed: {allowed}.",
                    headers={"Allow": allowed},
                )
            _check_format(request)
            if not public:
                if _authenticate(request) is None:
                    return unauthorized()
                limited = _throttled(request)
                if limited is not None:
                    return limited
            return handler(request, **kwargs)
        except DomainError as exc:
            return refusal(exc)
        except HttpError as exc:  # the session scheme's CSRF refusal
            code = "forbidden" if exc.status_code == 403 else "bad_request"
            return outcome(exc.status_code, code, str(exc))
        except RequestDataTooBig:
            return outcome(413, "payload_too_large", "The request body is too large.")
        except SuspiciousOperation:
            return outcome(400, "bad_request", "The request cannot be parsed (too many fields?).")
        except DataError:
            return outcome(
                422,
                "validation_error",
                "A value in the request cannot be used (out of range, or contains a NUL byte).",
            )
        except (OperationalError, InterfaceError) as exc:
            logger.warning(
                "Database unavailable during %s %s: %s", request.method, request.path, type(exc).__name__
            )
            if hasattr(request, "session"):
                request.session.clear()  # as the API does: the session could not be read either
            return outcome(
                503,
                "service_unavailable",
                "The database cannot be reached just now; try again in a moment.",
                headers={"Retry-After": "5"},
            )
        except Exception:
            logger.exception("Unhandled error in %s %s", request.method, request.path)
            return outcome(500, "internal_error", "Something went wrong on our side; it has been logged.")

    return view


def caller_scope(request: HttpRequest, need: str | None) -> Scope:
    """The caller's clinic (``?clinic=CODE`` where they work for several) and what they
    see there; ``need`` is the permission the request needs, else 403."""
    code = request.GET.get("clinic") or None
    if code is not None and len(code) > 64:
        raise BadRequest("clinic: at most 64 characters.")
    return scope(request.user, code, need=need)


def read_json(request: HttpRequest, *, patch: bool = False) -> Any:
    """The request's JSON body: an object (a resource), or for a PATCH also a JSON Patch
    array. ``application/fhir+json`` or ``application/json`` (a PATCH also
    ``application/json-patch+json`` and ``application/merge-patch+json``), else 415."""
    accepted = JSON_TYPES | (PATCH_TYPES if patch else frozenset())
    if request.content_type not in accepted:
        raise UnsupportedMediaType(
            f"Send the body as {' or '.join(sorted(accepted))}, not {request.content_type or 'nothing'}."
        )
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The request body is not valid JSON.") from exc
    if not isinstance(body, dict) and not (patch and isinstance(body, list)):
        raise BadRequest("The request body must be a JSON object (a FHIR resource).")
    return body


def base_url(request: HttpRequest) -> str:
    """This server's FHIR base, ``https://host/fhir``."""
    return request.build_absolute_uri(reverse("fhir:metadata")).removesuffix("/metadata")

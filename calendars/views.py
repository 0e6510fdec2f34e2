"""The calendar doors: a provider's subscribed feed, and one appointment's invitation under
the JSON API. Thin: they read through ``calendars.selectors`` and render with
``calendars.ical``."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.views.decorators.csrf import csrf_exempt
from ninja.errors import AuthenticationError, Throttled
from ninja.throttling import BaseThrottle

from audit import services as audit
from audit.models import AuditAction, AuditDoor
from calendars import ical, selectors
from calendars.models import CalendarFeed
from clinic.access import scope
from clinic.api import api, as_error_envelope
from clinic.errors import NotFound, ValidationFailed

READ_METHODS = ("GET", "HEAD")
# A feed's last fetch is written at most this often: calendar apps poll, and a poll is not
# worth a write each time.
LAST_USED_EVERY = dt.timedelta(minutes=5)
LOGGED_FEED_PATH = "/calendar/<token>.ics"
# Largest id PostgreSQL's bigint holds: a longer number in the path is simply not an id.
MAX_ID = 2**63 - 1


@csrf_exempt  # no session is involved; any method but GET is a 405, never a CSRF page
def provider_feed(request: HttpRequest, token: str) -> HttpResponse:
    """``/calendar/<token>.ics``: the provider's next weeks, for calendar apps (``webcal://``
    is the same URL: the app fetches it over http(s) unchanged).

    An unknown and a revoked token get the same 404: the answer never says which.
    """
    if request.method not in READ_METHODS:
        return HttpResponseNotAllowed(READ_METHODS)
    # The access log names the path, and this path is the secret: the line gets a stand-in
    # (the request has been routed; nothing after the view reads the path).
    request.path = LOGGED_FEED_PATH
    feed = selectors.live_feed(token)
    if feed is None:
        return HttpResponse("No calendar feed at this address.", status=404, content_type="text/plain")
    now = timezone.now()
    window = selectors.feed_window(feed.provider, now)
    blocks = selectors.busy_blocks(feed.provider, *window)
    places = selectors.chain_places([a.pk for a in blocks])
    body = ical.provider_feed(feed.provider, blocks, places, window)
    _note_use(feed, now)
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    unchanged = get_conditional_response(request, etag=etag)
    response = unchanged or HttpResponse(body, content_type=ical.CONTENT_TYPE)
    response["ETag"] = etag
    # Private: the URL is a secret, so no shared cache may keep the day it shows; a few
    # minutes of freshness spares the server an app that polls too eagerly.
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Disposition"] = f'inline; filename="{feed.provider.code}.ics"'
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _note_use(feed: CalendarFeed, now: dt.datetime) -> None:
    if feed.last_used_at is None or now - feed.last_used_at > LAST_USED_EVERY:
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)


@csrf_exempt  # answered in the API's envelope, whatever the method
def appointment_invitation(request: HttpRequest, appointment_id: int) -> HttpResponse:
    """``GET /api/v1/appointments/{id}.ics``: authenticated, throttled and scoped exactly as
    ``GET /api/v1/appointments/{id}``, with its errors in the API's envelope (the API's own
    handlers answer them)."""
    if request.method not in READ_METHODS:
        return as_error_envelope(HttpResponseNotAllowed(READ_METHODS))
    try:
        return _invitation(request, appointment_id)
    except Exception as exc:  # every failure, as the API answers it (its handlers log the unexpected)
        return api.on_exception(request, exc)


def _invitation(request: HttpRequest, appointment_id: int) -> HttpResponse:
    _authenticate(request)
    _throttle(request)
    clinic_code = request.GET.get("clinic")
    if clinic_code is not None and len(clinic_code) > 64:
        raise ValidationFailed({"clinic": "At most 64 characters."})
    caller = scope(request.user, clinic_code, need="scheduling.view_appointment")
    if appointment_id > MAX_ID:
        raise NotFound(f"No appointment with id {appointment_id}.")
    appointment, place = selectors.invitation_appointment(caller, appointment_id)
    # The invitation shows when and where this patient is expected: a view of their data,
    # recorded as the API's patient read is.
    audit.record(
        user=request.user,
        action=AuditAction.VIEW,
        door=AuditDoor.API,
        clinic=caller.clinic,
        patients=[appointment.patient],
        detail=f"appointment {appointment.pk} as iCalendar",
    )
    body = ical.invitation(appointment, place, timezone.now())
    response = HttpResponse(body, content_type=ical.CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="appointment-{appointment_id}.ics"'
    response["Cache-Control"] = "private, no-cache"
    return response


def _authenticate(request: HttpRequest) -> Any:
    """The API's own schemes, in its order: a bearer token, then a staff session."""
    for scheme in api.auth or ():  # type: ignore[union-attr]
        user = scheme(request)
        if user:
            return user
    raise AuthenticationError()


def _throttle(request: HttpRequest) -> None:
    configured: Any = api.throttle
    throttles = configured if isinstance(configured, list) else [configured]
    for throttle in throttles:
        if not isinstance(throttle, BaseThrottle):  # none configured
            continue
        if not throttle.allow_request(request):
            raise Throttled(wait=throttle.wait())  # type: ignore[arg-type]

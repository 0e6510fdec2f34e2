"""What every staff page shares: who may see it, which clinic, the page frame, replies.

Views are thin: they parse input, call one selector or service, and render. Permissions are
checked here, in the view, never only in a template (a fragment skips the page's checks).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django_htmx.middleware import HtmxDetails

from audit import services as audit
from audit.models import AuditDoor
from clinic import access
from clinic import selectors as clinic_selectors
from clinic.access import Scope
from clinic.errors import DomainError, NotFound, ValidationFailed
from clinic.models import Clinic, Patient
from clinic.roles import (
    can_add_patients,
    can_book,
    can_cancel,
    can_change_appointments,
    can_view_schedule,
    load_permissions,
    role_label,
)

View = Callable[..., HttpResponse]

logger = logging.getLogger(__name__)


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it (for the type checker)."""

    htmx: HtmxDetails


# The refusals htmx is told to swap in like a success (static/desk/desk.js): each one
# carries the message to show where the user is working.
REFUSAL_STATUSES = (400, 403, 404, 409, 422)
# Shown when the database cannot be reached (a 503 that desk.js swaps into the alert region).
DATABASE_LOST = (
    "The clinic's database cannot be reached just now, so this was not done. What you typed is"
    " still here: try again in a minute, and if it keeps happening tell the clinic admin."
)


def staff_view(
    allowed: Callable[[Any], bool] = can_view_schedule, what: str = "see the schedule"
) -> Callable[[View], View]:
    """Log in first; then the role must allow ``allowed``, else a 403 saying what is refused."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return guarded(request, *args, **kwargs)
            except (OperationalError, InterfaceError):
                # The database was lost (restarted, the connection cut): nothing of this
                # request committed, and the user is told so where they are working.
                logger.warning("Database unavailable during %s %s", request.method, request.path)
                # The session middleware reads the session's expiry on the way out, before it
                # skips saving a 5xx answer: with the session unread, that read would fail
                # again and turn this answer into a 500. Nothing of it is saved either way.
                request.session.clear()
                return refusal(request, DATABASE_LOST, status=503)

        def guarded(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                if request.htmx:  # a fragment cannot show a login page: reload into it
                    response = HttpResponse(status=401)
                    response["HX-Redirect"] = f"{redirect_to_login(request.get_full_path()).url}"
                    return response
                return redirect_to_login(request.get_full_path())
            load_permissions(request.user)
            if not allowed(request.user):
                return refusal(request, f"Your role may not {what}.", status=403)
            try:
                clinic = current_clinic(request)
            except DomainError as exc:  # a member of no clinic
                return refusal(request, exc.message, status=403)
            # Every date and time on a staff page is the clinic's wall clock.
            with timezone.override(clinic.tz):
                return view(request, *args, **kwargs)

        return wrapper

    return decorator


# The clinic a member of several clinics chose to work for, kept in their session.
CHOSEN_CLINIC = "desk_clinic"


def current_scope(request: HtmxHttpRequest) -> Scope:
    """The clinic this desk works for, with what the user sees there (``clinic.access``):
    their only clinic; for a member of several, the one they chose (``switch_clinic``),
    else the first by name. Read once per request."""
    found: Scope | None = getattr(request, "_desk_scope", None)
    if found is None:
        chosen = request.session.get(CHOSEN_CLINIC)
        if chosen:
            try:
                found = access.scope(request.user, chosen)
            except NotFound:  # no longer theirs (a membership removed): forget it
                request.session.pop(CHOSEN_CLINIC, None)
                chosen = None
        if found is None:
            try:
                found = access.scope(request.user, None)
            except ValidationFailed:  # several clinics, none chosen yet
                first = access.member_clinics(request.user)[0]
                found = access.scope(request.user, first.code)
                chosen = first.code
        request._desk_scope = found  # type: ignore[attr-defined]
        # Only a member of several clinics chooses (and is offered the choice).
        request._desk_several = bool(chosen)  # type: ignore[attr-defined]
    return found


def clinic_choices(request: HtmxHttpRequest) -> list[Clinic]:
    """The clinics the user may switch between, by name; empty for a member of one."""
    current_scope(request)
    if not getattr(request, "_desk_several", False):
        return []
    return access.member_clinics(request.user)


def current_clinic(request: HtmxHttpRequest) -> Clinic:
    return current_scope(request).clinic


# Dates a person can mean: far enough from the calendar's ends that a day's arithmetic
# (a day either side, time zones) cannot overflow.
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)


def parse_date(text: str | None) -> dt.date | None:
    """A YYYY-MM-DD date within reach, or None."""
    try:
        day = dt.date.fromisoformat(text or "")
    except ValueError:
        return None
    return day if FIRST_DATE <= day <= LAST_DATE else None


def local_now(clinic: Clinic) -> dt.datetime:
    return timezone.now().astimezone(clinic.tz)


def frame(request: HtmxHttpRequest, clinic: Clinic) -> dict[str, Any]:
    """The page frame's context: the clinic, who is signed in, and what their role allows."""
    user = request.user
    return {
        "clinic": clinic,
        "clinic_choices": clinic_choices(request),
        "role": role_label(user),
        "today": local_now(clinic).date(),
        "may": {
            "book": can_book(user),
            "cancel": can_cancel(user),
            "change": can_change_appointments(user),
            "add_patients": can_add_patients(user),
        },
    }


def status(text: str) -> str:
    """An out-of-band confirmation for the page's ``role="status"`` line."""
    return format_html('<div hx-swap-oob="innerHTML:#status">{}</div>', text)


def reply(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    code: int = 200,
    message: str = "",
    changed: bool = False,
) -> HttpResponse:
    """A fragment, with ``message`` in the status line and, after a change, the board told
    to refresh itself (the ``board-changed`` event)."""
    response = render(request, template, context, status=code)
    if message:
        response.write(status(message))
    if changed:
        response["HX-Trigger"] = "board-changed"
    return response


def refusal(request: HtmxHttpRequest, message: str, *, status: int = 409) -> HttpResponse:
    """A refusal shown in the page's alert region (fragments), or as a plain error page."""
    if request.htmx:
        html = render_to_string("desk/_alert.html", {"message": message}, request=request)
        response = HttpResponse(html, status=status)
        response["HX-Retarget"] = "#alert"
        response["HX-Reswap"] = "innerHTML"
        return response
    return render(request, "desk/refused.html", {"message": message, "code": status}, status=status)


def domain_refusal(request: HtmxHttpRequest, exc: DomainError) -> HttpResponse:
    return refusal(request, exc.message, status=exc.status)


def typed_patient_search(request: HtmxHttpRequest) -> tuple[str, list[Patient]]:
    """The search-as-you-type of a patient picker: what was typed (at most 100 characters)
    and the first ten patients it finds, after two characters. Every search is audited,
    with its result count, never its text."""
    clinic = current_clinic(request)
    q = request.GET.get("q", "").strip()[:100]
    if len(q) < 2:
        return q, []
    patients = list(clinic_selectors.patient_search(clinic.pk, q, limit=10))
    audit.record_search(user=request.user, door=AuditDoor.DESK, clinic=clinic, found=len(patients))
    return q, patients

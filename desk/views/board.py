"""The day board: providers (or rooms) as columns over the clinic's day."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render

from clinic.models import Clinic, Provider
from desk import board as layout
from desk.views.common import (
    HtmxHttpRequest,
    current_clinic,
    current_scope,
    frame,
    local_now,
    parse_date,
    staff_view,
)
from scheduling import selectors

VIEW_CHOICES = (("providers", "Providers"), ("rooms", "Rooms"))
VIEWS = tuple(value for value, _ in VIEW_CHOICES)


def board_context(request: HtmxHttpRequest, clinic: Clinic, day: dt.date | None = None) -> dict[str, Any]:
    """The board of ``day`` (default: the ``date`` asked for, else today)."""
    now = local_now(clinic)
    if day is None:
        day = parse_date(request.GET.get("date")) or now.date()
    view = request.GET.get("view", "")
    if view not in VIEWS:
        view = request.session.get("board_view", "providers")
    if request.session.get("board_view") != view:
        request.session["board_view"] = view
    caller = current_scope(request)
    own = None
    if caller.own_provider_only:  # a clinician: their own column only, or none
        linked = Provider.objects.filter(pk=caller.provider_id).first() if caller.provider_id else None
        own = linked or Provider(pk=0, clinic=clinic)  # linked to no provider: an empty board
    data = selectors.day_board(clinic=clinic, day=day, now=now, provider=own)
    return {
        "board": layout.build(
            snapshot=data.snapshot,
            appointments=data.appointments,
            day=day,
            view=view,
            names=data.names,
            type_codes=data.type_codes,
            now=now,
        ),
        "view_choices": VIEW_CHOICES,
        "px_per_minute": layout.PX_PER_MINUTE,
        "nav": "board",
        "poll_seconds": settings.DESK_POLL_SECONDS,
        "previous_day": day - dt.timedelta(days=1),
        "next_day": day + dt.timedelta(days=1),
    }


def page(
    request: HtmxHttpRequest,
    clinic: Clinic,
    *,
    panel: str = "",
    day: dt.date | None = None,
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    """The whole page: the board with ``panel`` (a template fragment) open beside it."""
    return render(
        request,
        "desk/board.html",
        {**frame(request, clinic), **board_context(request, clinic, day), "panel": panel, **(context or {})},
    )


@staff_view()
def board(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    if request.htmx:
        return render(
            request, "desk/board.html#board", {**frame(request, clinic), **board_context(request, clinic)}
        )
    return page(request, clinic)

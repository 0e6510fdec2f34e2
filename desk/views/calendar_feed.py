"""My calendar: a provider creates, replaces and revokes the secret feed of their own day
that their phone's calendar subscribes to. The full URL is shown once, right after it is
made; only a hash of it is kept (``calendars.models``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from calendars import selectors, services
from calendars.selectors import FEED_WEEKS
from desk.views.common import HtmxHttpRequest, current_scope, frame, refusal, reply, staff_view

NOT_LINKED = (
    "Your account is not linked to a provider, so it has no calendar of its own. The clinic's "
    "admin links it (Memberships) or creates a provider's feed in the admin."
)


@require_http_methods(["GET", "POST"])
@staff_view()
def calendar_feed(request: HtmxHttpRequest) -> HttpResponse:
    caller = current_scope(request)
    provider, feed = selectors.own_feed(caller)
    if request.method == "POST":
        if provider is None:
            return refusal(request, NOT_LINKED, status=403)
        action = request.POST.get("action")
        if action == "create":
            feed, raw = services.feed_create(provider=provider, actor=request.user, replace=True)
            url = request.build_absolute_uri(reverse("calendars:feed", args=[raw]))
            context = _context(request, provider, feed, new_url=url, webcal_url=_webcal(url))
            response = _answer(request, context, "A new link is ready: copy it now, it is shown once.")
            response["Cache-Control"] = "no-store"  # the secret stays out of the browser's cache
            return response
        if action == "revoke":
            revoked = services.feeds_revoke(provider.calendar_feeds.all())
            message = (
                "The calendar link is revoked: it no longer works."
                if revoked
                else "There was no link to revoke."
            )
            return _answer(request, _context(request, provider, None), message)
        return refusal(request, "Choose to create or to revoke the calendar link.", status=400)
    return render(request, "desk/calendar_feed.html", _context(request, provider, feed))


def _context(request: HtmxHttpRequest, provider: Any, feed: Any, **extra: Any) -> dict[str, Any]:
    clinic = current_scope(request).clinic
    return {
        **frame(request, clinic),
        "nav": "calendar",
        "provider": provider,
        "feed": feed,
        "weeks": FEED_WEEKS,
        "not_linked": NOT_LINKED,
        **extra,
    }


def _answer(request: HtmxHttpRequest, context: dict[str, Any], message: str) -> HttpResponse:
    if request.htmx:
        return reply(request, "desk/calendar_feed.html#feed", context, message=message)
    return render(request, "desk/calendar_feed.html", {**context, "message": message})


def _webcal(url: str) -> str:
    """The same address for a calendar app's "subscribe" link: ``webcal://`` opens the app,
    which then fetches it over http(s) as it is."""
    return "webcal://" + url.split("://", 1)[1]

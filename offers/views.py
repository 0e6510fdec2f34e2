"""The public page a waitlist offer's link opens: no login, the slot and one button.

GET shows the offer and never books; POST (with the CSRF token, a plain form that works
without JavaScript) accepts it. The page names the slot (date, time, provider, type,
clinic) and nothing about the patient: whoever holds the link learns no name, phone or
email from it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from clinic.errors import DomainError, NotFound
from offers import services

# Requests per client address and minute: tokens are unguessable, this only keeps a
# guessing script from costing the database anything worth having.
RATE_PER_MINUTE = 60
STATUS_BY_STATE = {
    "open": 200,
    "accepted": 200,
    "taken": 409,
    "used": 410,
    "expired": 410,
    "withdrawn": 410,
    "unavailable": 410,
}


@never_cache  # a personal page: no proxy or browser cache keeps it
@require_http_methods(["GET", "POST"])
def accept(request: HttpRequest) -> HttpResponse:
    if _over_rate(request):
        return _render(request, "throttled", None, status=429)
    now = timezone.now()
    try:
        if request.method == "POST":
            page = services.accept_offer(token=request.POST.get("token", ""), now=now)
        else:
            page = services.offer_page(token=request.GET.get("token", ""), now=now)
    except NotFound:
        return _render(request, "unknown", None, status=404)
    except DomainError as refusal:
        page = refusal.details["page"]
    return _render(request, page.state, page, status=STATUS_BY_STATE[page.state])


def _render(
    request: HttpRequest, state: str, page: services.OfferPage | None, *, status: int
) -> HttpResponse:
    context = {"state": state, "page": page, "token": request.GET.get("token", "")}
    if request.method == "POST":
        context["token"] = request.POST.get("token", "")
    response = render(request, "offers/accept.html", context, status=status)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _minute() -> int:
    return int(timezone.now().timestamp() // 60)


def _over_rate(request: HttpRequest) -> bool:
    """More than ``RATE_PER_MINUTE`` requests from this address this minute. A cache that
    does not answer (Redis down) lets the request through: the token still guards it."""
    address = settings.AXES_CLIENT_IP_CALLABLE(request) or "unknown"
    key = f"offers:rate:{address}:{_minute()}"
    try:
        cache.add(key, 0, timeout=120)
        return cache.incr(key) > RATE_PER_MINUTE
    except Exception:
        return False

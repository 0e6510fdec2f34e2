"""Switching clinics: a member of several clinics chooses the one this desk works for.

The choice lives in the session (``common.CHOSEN_CLINIC``); ``current_scope`` honours it
while the user is still a member there, and every page's header offers the others.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from clinic import access
from clinic.errors import NotFound
from desk.views.common import CHOSEN_CLINIC, HtmxHttpRequest, refusal, staff_view


@require_POST
@staff_view()
def switch_clinic(request: HtmxHttpRequest) -> HttpResponse:
    code = request.POST.get("clinic", "").strip()
    if not code:
        return refusal(request, "Choose the clinic to work for.", status=400)
    try:
        chosen = access.scope(request.user, code).clinic  # only a clinic of theirs
    except NotFound:
        return refusal(request, f"You do not work for a clinic with code {code!r}.", status=404)
    request.session[CHOSEN_CLINIC] = chosen.code
    return redirect("desk:board")

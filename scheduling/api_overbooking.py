"""GET /api/v1/overbooking/recommendations (issue 12): data-driven overbooking rules.

Read-only: the recommendations are applied by an admin (the admin's recommendations page
under the overbooking rules), never through this door and never automatically.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from clinic.access import scope
from clinic.api import answers, local_iso
from scheduling import overbooking

router = Router(tags=["overbooking"])


class RecommendationsParams(Schema):
    days: int = Field(
        overbooking.DEFAULT_DAYS,
        ge=1,
        le=overbooking.MAX_DAYS,
        description="The history to learn from: appointments that ended in this many days before now.",
    )
    clinic: str | None = Field(None, max_length=64, description="Clinic code, where several exist.")


class RecommendationOut(Schema):
    provider: str
    appointment_type: str
    appointments: int = Field(description="Appointments with a known outcome (attended or no-show).")
    no_shows: int
    no_show_rate: float = Field(description="no_shows / appointments; 0 when there are none.")
    duration_minutes: int
    session_seats: int = Field(
        description="Appointments of the type that fit in the provider's shortest working window."
    )
    max_extra: int = Field(
        description="The recommended overbooking rule: extra seats at each booked time. 0: do not overbook."
    )
    risk: float = Field(description="P(more patients come than the session's seats) with max_extra.")
    expected_minutes_won: float = Field(
        description="Per session, with max_extra: extra patients seen × duration."
    )
    current_max_extra: int = Field(description="What the clinic's overbooking rules allow today.")
    extra_per_session: int = Field(
        description="The most extra patients one session could take under the risk limit."
    )
    session_risk: float = Field(description="The risk with extra_per_session extra patients.")
    session_minutes_won: float = Field(description="Minutes won per session with extra_per_session.")
    recommended: bool = Field(description="false: too little history or no session; see note.")
    note: str = Field(description="Why nothing is recommended; empty when something is.")


class RecommendationsOut(Schema):
    days: int
    since: str = Field(description="The history's start: appointments that ended from here ...")
    until: str = Field(description="... to here (now).")
    risk_limit: float = Field(description="The clinic's overbooking_risk: the risk stays below it.")
    min_appointments: int = Field(description="Fewer appointments than this and nothing is recommended.")
    recommendations: list[RecommendationOut] = Field(description="By provider code, then type code.")


@router.get(
    "/overbooking/recommendations",
    response=answers({200: RecommendationsOut}),
    summary="Overbooking rules recommended from the no-show history",
)
def list_recommendations(request: HttpRequest, params: Query[RecommendationsParams]) -> dict[str, Any]:
    clinic = scope(request.user, params.clinic, need="clinic.view_overbookingrule").clinic
    now = timezone.now()
    found = overbooking.recommend(clinic, now=now, days=params.days)
    return {
        "days": params.days,
        "since": local_iso(now - dt.timedelta(days=params.days), clinic),
        "until": local_iso(now, clinic),
        "risk_limit": clinic.overbooking_risk,
        "min_appointments": overbooking.MIN_APPOINTMENTS,
        "recommendations": [{**dataclasses.asdict(rec), "recommended": rec.recommended} for rec in found],
    }

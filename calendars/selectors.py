"""Reads for the calendar doors: a feed by its token, a provider's busy blocks, and where an
appointment stands in its chain of reschedules (for a UID that survives them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection

from calendars.models import CalendarFeed
from clinic.access import Scope
from clinic.errors import NotFound
from clinic.models import Provider
from scheduling import access
from scheduling.models import Appointment

FEED_WEEKS = 8
# token_urlsafe(32) is 43 characters; anything much longer is not a token of ours.
MAX_TOKEN_CHARS = 100


def live_feed(raw_token: str) -> CalendarFeed | None:
    """The live feed this token opens, with its provider and clinic; None for an unknown or
    revoked token alike."""
    if not raw_token or len(raw_token) > MAX_TOKEN_CHARS:
        return None
    return CalendarFeed.objects.live().matching(raw_token).select_related("provider__clinic").first()


def feed_window(provider: Provider, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """From the start of today, the clinic's day, for ``FEED_WEEKS``: this morning's visits
    stay on the phone all day."""
    tz = provider.clinic.tz
    today = now.astimezone(tz).date()
    start = dt.datetime.combine(today, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(today + dt.timedelta(weeks=FEED_WEEKS), dt.time(), tzinfo=tz)
    return start, end


def busy_blocks(provider: Provider, start: dt.datetime, end: dt.datetime) -> list[Appointment]:
    """The provider's active appointments overlapping ``[start, end)``, by start."""
    return list(
        Appointment.objects.filter(provider=provider)
        .active()
        .overlapping(start, end)
        .select_related("appointment_type", "room", "patient")
        .order_by("start", "pk")
    )


@dataclass(frozen=True)
class ChainPlace:
    """Where an appointment stands among its reschedules: ``root`` is the first booking's id
    (the event's identity in a calendar), ``moves`` how many reschedules led to it."""

    root: int
    moves: int


def chain_places(appointment_ids: list[int]) -> dict[int, ChainPlace]:
    """Each appointment's ``ChainPlace``, in one query however long the chains."""
    if not appointment_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(CHAIN_UP_SQL, {"ids": appointment_ids})
        return {start_id: ChainPlace(root=root, moves=moves) for start_id, root, moves in cursor.fetchall()}


# Walks each appointment back along rescheduled_from to the booking without one.
CHAIN_UP_SQL = """
WITH RECURSIVE up(start_id, id, parent, moves) AS (
    SELECT a.id, a.id, a.rescheduled_from_id, 0
    FROM scheduling_appointment a WHERE a.id = ANY(%(ids)s)
  UNION ALL
    SELECT up.start_id, p.id, p.rescheduled_from_id, up.moves + 1
    FROM up JOIN scheduling_appointment p ON p.id = up.parent
)
SELECT start_id, id, moves FROM up WHERE parent IS NULL
"""

# Every appointment that a reschedule of this one led to, directly or not, with how far.
CHAIN_DOWN_SQL = """
WITH RECURSIVE down(id, depth) AS (
    SELECT %(id)s::bigint, 0
  UNION ALL
    SELECT c.id, down.depth + 1
    FROM down JOIN scheduling_appointment c ON c.rescheduled_from_id = down.id
)
SELECT id FROM down ORDER BY depth DESC
"""


def invitation_appointment(scope: Scope, appointment_id: int) -> tuple[Appointment, ChainPlace]:
    """The appointment a patient's calendar event stands for, as the caller may see it.

    ``not_found`` unless the caller sees ``appointment_id`` (``scheduling.access``, as the
    API's appointment read). An appointment that was rescheduled answers with where the
    visit is now, the latest of its chain that the caller sees: the event in the patient's
    calendar is the visit, and an old invitation's link must not cancel it.
    """
    visible = access.appointments(scope)
    with connection.cursor() as cursor:
        cursor.execute(CHAIN_DOWN_SQL, {"id": appointment_id})
        newest_first = [row[0] for row in cursor.fetchall()]
    found = {
        a.pk: a
        for a in visible.filter(pk__in=newest_first).select_related(
            "clinic", "patient", "appointment_type", "provider", "room"
        )
    }
    if appointment_id not in found:
        raise NotFound(f"No appointment with id {appointment_id}.")
    appointment = next(found[pk] for pk in newest_first if pk in found)
    return appointment, chain_places([appointment.pk])[appointment.pk]


def own_feed(scope: Scope) -> tuple[Provider | None, CalendarFeed | None]:
    """The provider the caller is (their membership's link) and that provider's live feed:
    a provider manages their own feed, nobody else's, at the desk."""
    if scope.provider_id is None:
        return None, None
    provider = Provider.objects.select_related("clinic").get(pk=scope.provider_id)
    return provider, provider.calendar_feeds.live().first()

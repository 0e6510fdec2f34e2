"""Creating and revoking calendar feeds: the admin and the desk page both call these."""

from __future__ import annotations

import secrets
from typing import Any

from django.utils import timezone

from calendars.models import CalendarFeed, CalendarFeedQuerySet
from clinic.errors import ValidationFailed
from clinic.models import Provider
from clinic.transactions import service_transaction


@service_transaction
def feed_create(*, provider: Provider, actor: Any = None, replace: bool = False) -> tuple[CalendarFeed, str]:
    """A new feed for ``provider``; returns the row and the raw token, which is shown once
    and never stored. A provider has one live feed: with ``replace`` the one they have stops
    working now, without it an existing one is refused (someone may be subscribed to it)."""
    # Two creations for one provider at once take turns here, so the second sees the first's
    # feed instead of failing on the one-live-feed constraint.
    Provider.objects.select_for_update().filter(pk=provider.pk).first()
    live = CalendarFeed.objects.filter(provider=provider).live()
    if live.exists():
        if not replace:
            raise ValidationFailed(
                {"provider": f"{provider.name} already has a calendar feed: revoke it first, or replace it."}
            )
        live.update(revoked_at=timezone.now())
    raw = secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(
        provider=provider,
        token_hash=CalendarFeed.hash(raw),
        prefix=raw[:8],
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    return feed, raw


@service_transaction
def feeds_revoke(feeds: CalendarFeedQuerySet) -> int:
    """Revoke every feed in ``feeds`` that is still live; how many were. They stop working at
    once: the feed view reads ``revoked_at`` on every request, nothing caches a feed."""
    return feeds.live().update(revoked_at=timezone.now())

"""A provider's calendar feed: a secret, revocable URL that calendar apps subscribe to."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinic.models import Provider


class CalendarFeedQuerySet(models.QuerySet["CalendarFeed"]):
    def live(self) -> CalendarFeedQuerySet:
        return self.filter(revoked_at__isnull=True)

    def matching(self, raw_token: str) -> CalendarFeedQuerySet:
        return self.filter(token_hash=CalendarFeed.hash(raw_token))


class CalendarFeed(models.Model):
    """Only a SHA-256 of the token is stored: a copy of the database does not hand out the
    feeds' URLs. The full URL is shown once, when the feed is created."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="calendar_feeds")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="First characters, to tell feeds apart."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When a calendar app last fetched it."
    )
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Set: the URL no longer works.")

    objects = CalendarFeedQuerySet.as_manager()

    class Meta:
        ordering = ["provider__code", "-created_at"]
        constraints = [
            # One live URL per provider: replacing it revokes the old one, so a provider never
            # has forgotten links to their day still working somewhere.
            models.UniqueConstraint(
                fields=["provider"], condition=Q(revoked_at__isnull=True), name="calendar_feed_one_live"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} ({self.prefix}…)"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def hash(raw_token: str) -> str:
        return hashlib.sha256(raw_token.encode()).hexdigest()

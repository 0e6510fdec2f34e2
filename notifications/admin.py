"""The outbox in the admin: what was sent, what is stuck, and a button to try again."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications.delivery import retry_failed
from notifications.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = [
        "event_id",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "event_type"]
    search_fields = ["event_id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]
    actions = ["retry_selected"]
    # A record of what was announced: nobody edits it by hand.
    readonly_fields = [
        "event_type",
        "event_id",
        "appointment",
        "sequence",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "last_status_code",
        "created_at",
        "sent_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry selected failed events", permissions=["change"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        count = retry_failed(queryset)
        if count:
            self.message_user(request, f"{count} failed event(s) queued for delivery again.")
        else:
            self.message_user(request, "None of the selected events had failed.", level=messages.WARNING)

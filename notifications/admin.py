"""The outbox in the admin: what was sent, what is stuck, and a button to try again.

A failed event holds back the later events of its appointment (they would otherwise
overtake it); the list marks them "held back", and retrying the failed event sends it and
then them, in order.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from notifications.delivery import retry_failed
from notifications.models import OutboxEvent, OutboxStatus


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = [
        "event_id",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "held_back",
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
        "claimed_until",
        "last_error",
        "last_status_code",
        "created_at",
        "sent_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboxEvent]:
        earlier_failed = OutboxEvent.objects.filter(
            appointment_id=OuterRef("appointment_id"),
            sequence__lt=OuterRef("sequence"),
            status=OutboxStatus.FAILED,
        )
        return super().get_queryset(request).annotate(is_held_back=Exists(earlier_failed))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(boolean=True, description="held back by a failed event", ordering="is_held_back")
    def held_back(self, event: OutboxEvent) -> bool:
        return event.status == OutboxStatus.PENDING and bool(getattr(event, "is_held_back", False))

    @admin.action(
        description="Retry selected failed events (and the events behind them, in order)",
        permissions=["change"],
    )
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        count = retry_failed(queryset)
        if count:
            self.message_user(
                request,
                f"{count} failed event(s) queued for delivery again. They go in order, each after"
                " any earlier failed event of its appointment, and the events held back follow.",
            )
        else:
            self.message_user(request, "None of the selected events had failed.", level=messages.WARNING)

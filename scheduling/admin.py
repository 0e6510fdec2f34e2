"""The admin for bookings: look, search and repair; booking itself goes through the services.

Appointments are shown, not edited: a booking written here would skip the engine's rules
(working hours, equipment, notice), the history and the notifications. Only the note can
be changed, through the service that records it. Waitlist entries are added and closed
through the services too. History, idempotency records and statistics are written by the
system only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse

from clinic.errors import DomainError
from scheduling import services
from scheduling.models import (
    Appointment,
    AppointmentHistory,
    IdempotencyRecord,
    NoShowRate,
    ProviderDayStats,
    RoomDayStats,
    WaitlistEntry,
    WaitlistHistory,
    WaitlistStatus,
)


class ViewOnlyAdmin(admin.ModelAdmin):
    """Rows the system writes: the admin shows them and never adds, edits or deletes one."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ServiceSavedAdmin(admin.ModelAdmin):
    """A model whose admin form saves through a service. The service is one durable
    transaction, which may not run inside the one Django's admin opens around its form."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]


class HistoryInline(admin.TabularInline):
    """The read-only history of the object on the page."""

    extra = 0
    can_delete = False
    fields = ("at", "action", "actor", "changes")
    readonly_fields = fields
    ordering = ("at", "pk")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("actor")

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class AppointmentHistoryInline(HistoryInline):
    model = AppointmentHistory


class WaitlistHistoryInline(HistoryInline):
    model = WaitlistHistory


@admin.register(Appointment)
class AppointmentAdmin(ServiceSavedAdmin):
    list_display = (
        "id",
        "start_local",
        "provider",
        "room",
        "patient",
        "appointment_type",
        "status",
        "seat",
    )
    list_display_links = ("id", "start_local")
    list_filter = ("status", "provider", "room", "appointment_type", "clinic")
    list_select_related = ("clinic", "provider", "room", "patient", "appointment_type")
    search_fields = (
        "patient__code",
        "patient__first_name",
        "patient__last_name",
        "provider__code",
        "provider__name",
        "note",
    )
    date_hierarchy = "start"
    ordering = ("-start", "provider__code")
    # The table grows without bound; skip the unfiltered COUNT(*) on every page.
    show_full_result_count = False
    inlines = (AppointmentHistoryInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "clinic",
                    "patient",
                    "appointment_type",
                    "provider",
                    "room",
                    "start",
                    "end",
                    "status",
                    "seat",
                    "note",
                )
            },
        ),
        ("Blocked time (with the type's buffers)", {"fields": ("blocked_start", "blocked_end")}),
        (
            "Audit",
            {
                "fields": (
                    "created_at",
                    "created_by",
                    "updated_at",
                    "cancelled_at",
                    "cancelled_by",
                    "cancel_reason",
                    "rescheduled_from",
                    "backfill_of",
                )
            },
        ),
    )
    readonly_fields = (
        "clinic",
        "patient",
        "appointment_type",
        "provider",
        "room",
        "start",
        "end",
        "status",
        "seat",
        "blocked_start",
        "blocked_end",
        "created_at",
        "created_by",
        "updated_at",
        "cancelled_at",
        "cancelled_by",
        "cancel_reason",
        "rescheduled_from",
        "backfill_of",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Cancel instead: history, stats and backfill all read the cancelled row.
        return False

    @admin.display(description="start (clinic time)", ordering="start")
    def start_local(self, obj: Appointment) -> str:
        return f"{obj.start.astimezone(obj.clinic.tz):%Y-%m-%d %H:%M %Z}"

    def save_model(self, request: HttpRequest, obj: Appointment, form: forms.ModelForm, change: bool) -> None:
        services.appointment_update_note(
            appointment_id=obj.pk, note=form.cleaned_data["note"], actor=request.user
        )


@admin.register(AppointmentHistory)
class AppointmentHistoryAdmin(ViewOnlyAdmin):
    """Append-only: the admin may read the history, never write it."""

    list_display = ("at", "appointment", "action", "actor")
    list_filter = ("action",)
    list_select_related = ("actor", "appointment__appointment_type", "appointment__provider")
    search_fields = ("=appointment__id", "action", "actor__username")
    date_hierarchy = "at"
    ordering = ("-at", "-pk")
    show_full_result_count = False
    fields = ("appointment", "at", "action", "actor", "changes")
    readonly_fields = fields


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(ServiceSavedAdmin):
    """Entries are added here through the service; once added they change only by the
    "close" action (or a booking), each change in the entry's history."""

    list_display = (
        "patient",
        "appointment_type",
        "provider",
        "earliest",
        "latest",
        "status",
        "created_at",
    )
    list_filter = ("status", "appointment_type", "provider", "clinic")
    list_select_related = ("patient", "appointment_type", "provider")
    search_fields = ("patient__code", "patient__first_name", "patient__last_name", "note")
    date_hierarchy = "earliest"
    ordering = ("-created_at", "-pk")
    autocomplete_fields = ("patient",)
    inlines = (WaitlistHistoryInline,)
    actions = ("close_entries",)
    add_fields = ("clinic", "patient", "appointment_type", "provider", "earliest", "latest", "note")
    shown_fields = (
        *add_fields,
        "status",
        "created_at",
        "closed_at",
        "close_reason",
        "closed_by",
    )

    def get_fields(self, request: HttpRequest, obj: WaitlistEntry | None = None) -> Any:
        return self.add_fields if obj is None else self.shown_fields

    def get_readonly_fields(self, request: HttpRequest, obj: WaitlistEntry | None = None) -> Any:
        return () if obj is None else self.shown_fields

    def save_model(
        self, request: HttpRequest, obj: WaitlistEntry, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            return  # nothing on the page is editable: entries change through the services
        data = form.cleaned_data
        entry = services.waitlist_add(
            clinic=data["clinic"],
            patient=data["patient"],
            appointment_type=data["appointment_type"],
            provider=data["provider"],
            earliest=data["earliest"],
            latest=data["latest"],
            note=data["note"],
            actor=request.user,
        )
        obj.pk, obj.created_at = entry.pk, entry.created_at

    @admin.action(description="Close the selected entries", permissions=["change"])
    def close_entries(self, request: HttpRequest, queryset: QuerySet[WaitlistEntry]) -> None:
        closed = 0
        for entry in queryset.filter(status=WaitlistStatus.OPEN).select_related("clinic"):
            try:
                services.waitlist_close(
                    entry_id=entry.pk, clinic=entry.clinic, reason="closed in the admin", actor=request.user
                )
            except DomainError as exc:  # closed meanwhile
                self.message_user(request, f"{entry}: {exc.message}", messages.WARNING)
            else:
                closed += 1
        self.message_user(request, f"Closed {closed} waitlist entr{'y' if closed == 1 else 'ies'}.")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ViewOnlyAdmin):
    """Read-only: deleting a record would let a retried request book a second time."""

    list_display = ("created_at", "user", "clinic", "method", "path", "key", "status_code")
    list_filter = ("status_code", "clinic", "method", "path")
    list_select_related = ("user", "clinic")
    search_fields = ("key", "path", "user__username")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    fields = ("user", "clinic", "method", "key", "path", "fingerprint", "status_code", "body", "created_at")
    readonly_fields = fields


@admin.register(ProviderDayStats)
class ProviderDayStatsAdmin(ViewOnlyAdmin):
    """Snapshots recomputed by the stats job; a wrong row is fixed by recomputing, not editing."""

    list_display = (
        "date",
        "provider",
        "available_minutes",
        "booked_minutes",
        "utilization_percent",
        "appointments",
        "cancellations",
        "no_shows",
        "backfilled",
        "computed_at",
    )
    list_filter = ("clinic", "provider")
    list_select_related = ("provider",)
    search_fields = ("provider__code", "provider__name")
    date_hierarchy = "date"
    ordering = ("-date", "provider__code")

    @admin.display(description="utilization", ordering="utilization")
    def utilization_percent(self, obj: ProviderDayStats) -> str:
        return f"{obj.utilization:.0%}"


@admin.register(RoomDayStats)
class RoomDayStatsAdmin(ViewOnlyAdmin):
    list_display = (
        "date",
        "room",
        "available_minutes",
        "booked_minutes",
        "utilization_percent",
        "computed_at",
    )
    list_filter = ("clinic", "room")
    list_select_related = ("room",)
    search_fields = ("room__code", "room__name")
    date_hierarchy = "date"
    ordering = ("-date", "room__code")

    @admin.display(description="utilization", ordering="utilization")
    def utilization_percent(self, obj: RoomDayStats) -> str:
        return f"{obj.utilization:.0%}"


@admin.register(NoShowRate)
class NoShowRateAdmin(ViewOnlyAdmin):
    list_display = (
        "date",
        "provider",
        "appointment_type",
        "appointments",
        "no_shows",
        "rate_percent",
        "window_days",
        "computed_at",
    )
    list_filter = ("clinic", "provider", "appointment_type")
    list_select_related = ("provider", "appointment_type")
    search_fields = ("provider__code", "appointment_type__code")
    date_hierarchy = "date"
    ordering = ("-date", "provider__code", "appointment_type__code")

    @admin.display(description="no-show rate", ordering="rate")
    def rate_percent(self, obj: NoShowRate) -> str:
        return f"{obj.rate:.1%}"

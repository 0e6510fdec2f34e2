"""The admin for bookings: look, search and repair; booking itself goes through the services.

Appointments are shown, not edited: a booking written here would skip the engine's rules
(working hours, equipment, notice), the history and the notifications. Only the note can
be changed, through the service that records it. Waitlist entries are added and closed
through the services too. History, idempotency records and statistics are written by the
system only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from clinic.admin import OverbookingRuleAdmin as ClinicOverbookingRuleAdmin
from clinic.errors import DomainError
from clinic.models import Clinic, OverbookingRule
from scheduling import overbooking, services
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


# --- Overbooking recommendations (issue 12) -----------------------------------------------
#
# The rules' admin belongs to the clinic app; the recommendations are computed here, from
# the bookings. They are added to that admin (a page beside the rules' list, linked from
# it) so an admin finds them where the rules are: the clinic app's class is extended and
# registered again, as one extends django.contrib.auth's UserAdmin.

admin.site.unregister(OverbookingRule)


@admin.register(OverbookingRule)
class OverbookingRuleAdmin(ClinicOverbookingRuleAdmin):
    """The rules, and a "Recommendations" page: per provider × type, the rule the no-show
    history supports, with its risk and the minutes it wins; "Apply" writes the selected
    (or all) of them as rules. Nothing is ever applied without that button."""

    recommendations_template = "admin/clinic/overbookingrule/recommendations.html"

    def get_urls(self) -> list[URLPattern]:
        page = path(
            "recommendations/",
            self.admin_site.admin_view(self.recommendations_view),
            name="clinic_overbookingrule_recommendations",
        )
        return [page, *super().get_urls()]

    def recommendations_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        may_apply = self.has_add_permission(request) and self.has_change_permission(request)
        clinics = list(Clinic.objects.order_by("name", "code"))
        data = request.POST if request.method == "POST" else request.GET
        clinic = next((c for c in clinics if c.code == data.get("clinic")), clinics[0] if clinics else None)
        days = _days(request, data.get("days"))
        if clinic is None:
            found: list[overbooking.Recommendation] = []
        else:
            found = overbooking.recommend(clinic, days=days)
        if request.method == "POST" and clinic is not None:
            if not may_apply:
                raise PermissionDenied
            self.apply(request, clinic, found, apply_all="apply_all" in request.POST)
            query = urlencode({"clinic": clinic.code, "days": days})
            return HttpResponseRedirect(f"{reverse('admin:clinic_overbookingrule_recommendations')}?{query}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Overbooking recommendations",
            "clinics": clinics,
            "clinic": clinic,
            "days": days,
            "risk_limit": f"{clinic.overbooking_risk:.1%}" if clinic else "",
            "max_days": overbooking.MAX_DAYS,
            "min_appointments": overbooking.MIN_APPOINTMENTS,
            "rows": [_row(rec) for rec in found],
            "may_apply": may_apply and any(rec.recommended for rec in found),
        }
        return TemplateResponse(request, self.recommendations_template, context)

    def apply(
        self,
        request: HttpRequest,
        clinic: Clinic,
        found: list[overbooking.Recommendation],
        *,
        apply_all: bool,
    ) -> None:
        """Apply what was chosen, recomputed now: the page's figures are never trusted back."""
        chosen = set(request.POST.getlist("selected"))
        picked = [rec for rec in found if rec.recommended and (apply_all or _key(rec) in chosen)]
        if not picked:
            self.message_user(request, "Select at least one recommendation to apply.", messages.WARNING)
            return
        changed = overbooking.apply_recommendations(clinic, picked, actor=request.user)
        self.message_user(
            request,
            f"Applied {len(picked)} recommendation(s) to {clinic}: {changed} rule(s) created or changed.",
            messages.SUCCESS,
        )


def _key(rec: overbooking.Recommendation) -> str:
    return f"{rec.provider}|{rec.appointment_type}"


def _days(request: HttpRequest, raw: str | None) -> int:
    """The history's length from the page's form; the default, with a warning, when it is
    not a whole number of days in range."""
    if not raw:
        return overbooking.DEFAULT_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= overbooking.MAX_DAYS:
        messages.warning(
            request,
            f"Days must be a whole number from 1 to {overbooking.MAX_DAYS}; showing the last"
            f" {overbooking.DEFAULT_DAYS} days.",
        )
        return overbooking.DEFAULT_DAYS
    return days


def _row(rec: overbooking.Recommendation) -> dict[str, Any]:
    """One recommendation as the page shows it."""
    return {
        "key": _key(rec),
        "rec": rec,
        "rate": f"{rec.no_show_rate:.1%}",
        "risk": f"{rec.risk:.1%}",
        "minutes": f"{rec.expected_minutes_won:.1f}",
        "session_risk": f"{rec.session_risk:.1%}",
        "session_minutes": f"{rec.session_minutes_won:.1f}",
        "changes": rec.recommended and rec.max_extra != rec.current_max_extra,
    }

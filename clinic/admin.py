"""The admin for the clinic's set-up: an operations tool, not the staff UI."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse

from audit import services as audit
from audit.models import AuditAction, AuditDoor
from clinic.models import (
    ApiToken,
    AppointmentType,
    Clinic,
    Closure,
    Equipment,
    Membership,
    OverbookingRule,
    Patient,
    Provider,
    Room,
    TimeOff,
    WorkingHours,
)
from clinic.services import _phone as normalize_phone
from clinic.services import revoke_tokens


def _names(items: Iterable[Equipment | Room]) -> str:
    """Comma-separated names; callers prefetch ``items`` so a list page costs no query per row."""
    return ", ".join(item.name for item in items) or "—"


class ClosureInline(admin.TabularInline):
    model = Closure
    extra = 0


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "timezone", "slot_minutes", "min_notice_minutes")
    search_fields = ("code", "name")
    list_filter = ("timezone",)
    ordering = ("name",)
    inlines = (ClosureInline,)
    fieldsets = (
        (None, {"fields": ("code", "name", "timezone")}),
        ("Contact, for patients' invitations and FHIR", {"fields": ("address", "email")}),
        (
            "Booking rules",
            {
                "fields": (
                    "slot_minutes",
                    "min_notice_minutes",
                    "booking_horizon_days",
                    "no_show_grace_minutes",
                    "no_show_lookback_days",
                )
            },
        ),
        (
            "Slot ranking weights",
            {
                "fields": (
                    "weight_preference",
                    "weight_compactness",
                    "weight_room_switch",
                    "weight_overbooking",
                )
            },
        ),
        ("Waitlist offers and overbooking", {"fields": ("offer_hold_minutes", "overbooking_risk")}),
    )


@admin.register(Closure)
class ClosureAdmin(admin.ModelAdmin):
    list_display = ("date", "clinic", "reason")
    search_fields = ("reason", "clinic__code", "clinic__name")
    list_filter = ("clinic",)
    list_select_related = ("clinic",)
    date_hierarchy = "date"
    ordering = ("-date",)


@admin.register(Equipment)
class EquipmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "clinic", "rooms_list")
    search_fields = ("code", "name")
    list_filter = ("clinic",)
    list_select_related = ("clinic",)
    ordering = ("clinic", "code")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Equipment]:
        return super().get_queryset(request).prefetch_related("rooms")

    @admin.display(description="rooms")
    def rooms_list(self, obj: Equipment) -> str:
        return _names(obj.rooms.all())


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "clinic", "equipment_list")
    search_fields = ("code", "name", "equipment__code", "equipment__name")
    list_filter = ("clinic", "equipment")
    list_select_related = ("clinic",)
    ordering = ("clinic", "code")
    filter_horizontal = ("equipment",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Room]:
        return super().get_queryset(request).prefetch_related("equipment")

    @admin.display(description="equipment")
    def equipment_list(self, obj: Room) -> str:
        return _names(obj.equipment.all())


class WorkingHoursInlineForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The formset checks overlaps among the rows as they will be saved; the saved rows
        # may be the very ones this form changes.
        self.instance.check_saved_hours = False


class WorkingHoursFormSet(BaseInlineFormSet):
    """A provider's whole week: no two windows of one weekday may overlap once saved."""

    def clean(self) -> None:
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.is_valid() and form.cleaned_data.get("start") and not form.cleaned_data.get("DELETE")
        ]
        hours = [form.instance for form in kept]
        for form in kept:
            window = form.instance
            other = window.first_overlap(hours)
            # Each overlap is reported once, on the later of the two rows.
            if other is not None and (other.start, other.end) <= (window.start, window.end):
                form.add_error(None, WorkingHours.overlap_error(other))


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    form = WorkingHoursInlineForm
    formset = WorkingHoursFormSet
    extra = 0
    ordering = ("weekday", "start")


class TimeOffInline(admin.TabularInline):
    model = TimeOff
    extra = 0
    ordering = ("-start",)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "clinic")
    search_fields = ("code", "name")
    list_filter = ("clinic",)
    list_select_related = ("clinic",)
    ordering = ("clinic", "code")
    inlines = (WorkingHoursInline, TimeOffInline)


@admin.register(WorkingHours)
class WorkingHoursAdmin(admin.ModelAdmin):
    list_display = ("provider", "weekday", "start", "end")
    search_fields = ("provider__code", "provider__name")
    list_filter = ("weekday", "provider__clinic", "provider")
    list_select_related = ("provider",)
    ordering = ("provider__code", "weekday", "start")


@admin.register(TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    list_display = ("provider", "start", "end", "reason")
    search_fields = ("provider__code", "provider__name", "reason")
    list_filter = ("provider__clinic", "provider")
    list_select_related = ("provider",)
    date_hierarchy = "start"
    ordering = ("-start",)


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "clinic",
        "duration_minutes",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "equipment_list",
        "providers_list",
    )
    search_fields = ("code", "name")
    list_filter = ("clinic", "required_equipment")
    list_select_related = ("clinic",)
    ordering = ("clinic", "code")
    filter_horizontal = ("required_equipment", "providers")

    def get_queryset(self, request: HttpRequest) -> QuerySet[AppointmentType]:
        return super().get_queryset(request).prefetch_related("required_equipment", "providers")

    @admin.display(description="required equipment")
    def equipment_list(self, obj: AppointmentType) -> str:
        return _names(obj.required_equipment.all())

    @admin.display(description="providers")
    def providers_list(self, obj: AppointmentType) -> str:
        # An empty set is a rule, not missing data: every provider may perform the type.
        return ", ".join(p.code for p in obj.providers.all()) or "any"


@admin.register(OverbookingRule)
class OverbookingRuleAdmin(admin.ModelAdmin):
    list_display = ("clinic", "provider", "appointment_type", "max_extra", "level")
    search_fields = ("provider__code", "provider__name", "appointment_type__code")
    list_filter = ("clinic", "provider")
    list_select_related = ("clinic", "provider", "appointment_type")
    ordering = ("clinic", "provider__code", "appointment_type__code")


class PatientAdminForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ("phone",)  # PatientAdmin's fieldsets choose the fields it shows

    def clean_phone(self) -> str:
        """Stored in E.164, as the API and the clinic file store it."""
        problems: dict[str, str] = {}
        phone = normalize_phone(self.cleaned_data.get("phone") or "", problems)
        if problems:
            raise forms.ValidationError(problems["phone"])
        return phone


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    form = PatientAdminForm
    list_display = ("code", "last_name", "first_name", "birth_date", "phone", "email", "clinic")
    list_display_links = ("code", "last_name")
    search_fields = ("code", "first_name", "last_name", "phone", "email")
    list_filter = ("clinic",)
    list_select_related = ("clinic",)
    ordering = ("last_name", "first_name", "code")
    filter_horizontal = ("preferred_providers",)
    readonly_fields = ("created_at",)
    fieldsets = (
        (
            None,
            {"fields": ("clinic", "code", "first_name", "last_name", "birth_date", "created_at")},
        ),
        ("Contact", {"fields": ("phone", "email")}),
        (
            "Preferences (used to rank slots)",
            {"fields": ("preferred_providers", "preferred_days", "preferred_times")},
        ),
    )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        shown = getattr(response, "context_data", None) or {}
        patient = shown.get("original") if request.method == "GET" else None
        if isinstance(patient, Patient):
            audit.record(
                user=request.user,
                action=AuditAction.VIEW,
                door=AuditDoor.ADMIN,
                clinic=patient.clinic,
                patients=[patient],
            )
        return response

    def save_model(self, request: HttpRequest, obj: Patient, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit.record(
            user=request.user,
            action=AuditAction.CHANGE if change else AuditAction.CREATE,
            door=AuditDoor.ADMIN,
            clinic=obj.clinic,
            patients=[obj],
            detail=", ".join(form.changed_data),  # the fields' names, never their values
        )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by ``manage.py create_api_token`` (the raw token is shown once, and
    only there); here they are listed, with when each was last used, and revoked."""

    list_display = ("prefix", "user", "created_at", "last_used_at", "expires_at", "revoked_at")
    search_fields = ("prefix", "user__username")
    list_select_related = ("user",)
    list_filter = ("user__groups", ("revoked_at", admin.EmptyFieldListFilter))
    ordering = ("-created_at",)
    readonly_fields = ("prefix", "user", "created_at", "last_used_at", "expires_at", "revoked_at")
    fields = readonly_fields
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = revoke_tokens(queryset)
        self.message_user(request, f"Revoked {revoked} token(s); they no longer work.", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Who works for which clinic; a clinician's membership names the provider they are."""

    list_display = ("user", "clinic", "provider")
    list_filter = ("clinic", "user__groups")
    search_fields = ("user__username", "clinic__code", "provider__code")
    list_select_related = ("user", "clinic", "provider")
    autocomplete_fields = ("user",)
    ordering = ("clinic__code", "user__username")

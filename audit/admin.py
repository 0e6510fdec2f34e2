"""The audit trail in the admin: browsable, never editable."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from audit.models import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ("at", "action", "door", "user", "patient_code", "clinic", "detail")
    list_filter = ("action", "door", "clinic", "at")
    # By code and username only: the trail names no patient, and searching it by name
    # would read the patients' table for names all the same.
    search_fields = ("patient__code", "user__username")
    search_help_text = "A patient's code or a username."
    list_select_related = ("user", "patient", "clinic")
    date_hierarchy = "at"
    ordering = ("-at", "-pk")
    fields = ("at", "action", "door", "user", "patient_code", "clinic", "detail")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="patient", ordering="patient__code")
    def patient_code(self, obj: AuditRecord) -> str:
        return obj.patient.code if obj.patient else "—"

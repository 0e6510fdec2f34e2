"""Who viewed, searched, exported or changed which patient's data, through which door.

A record names the patient by reference only and its ``detail`` never repeats a name or
what was typed into a search (a search is recorded with the number of patients it found):
the audit trail must not become one more copy of the data it watches over.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    VIEW = "view", "viewed"
    SEARCH = "search", "searched"
    EXPORT = "export", "exported"
    CHANGE = "change", "changed"
    CREATE = "create", "created"


class AuditDoor(models.TextChoices):
    API = "api", "JSON API"
    DESK = "desk", "front desk"
    ADMIN = "admin", "admin"
    COMMAND = "command", "management command"


class AuditRecord(models.Model):
    at = models.DateTimeField(default=timezone.now)
    # Empty for a management command, and once the user is deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    # Empty for a search or an export, and once the patient is deleted.
    patient = models.ForeignKey(
        "clinic.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.CASCADE, related_name="+")
    door = models.CharField(max_length=16, choices=AuditDoor.choices)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["clinic", "-at"], name="audit_clinic_at"),
            models.Index(fields=["patient", "-at"], name="audit_patient_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} via {self.get_door_display()} at {self.at:%Y-%m-%d %H:%M}"

"""Staff roles as auth groups. The data migration and `create_api_token` both use this."""

from __future__ import annotations

from typing import Any

FRONT_DESK = "front_desk"
CLINICIAN = "clinician"
ADMIN = "admin"
ROLES = (FRONT_DESK, CLINICIAN, ADMIN)

_VIEW_ALL = [
    ("clinic", m, "view")
    for m in (
        "clinic",
        "closure",
        "equipment",
        "room",
        "provider",
        "workinghours",
        "timeoff",
        "appointmenttype",
        "overbookingrule",
        "patient",
    )
] + [("scheduling", m, "view") for m in ("appointment", "appointmenthistory", "waitlistentry")]

# (app_label, model, action) triples each role gets.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str, str]]] = {
    # Books, moves and cancels appointments, manages patients and the waitlist.
    FRONT_DESK: _VIEW_ALL
    + [
        ("clinic", "patient", "add"),
        ("clinic", "patient", "change"),
        ("scheduling", "appointment", "add"),
        ("scheduling", "appointment", "change"),
        ("scheduling", "appointment", "cancel"),
        ("scheduling", "waitlistentry", "add"),
        ("scheduling", "waitlistentry", "change"),
    ],
    # Sees the schedule and moves their patients through the visit.
    CLINICIAN: _VIEW_ALL + [("scheduling", "appointment", "change")],
    # Everything about the clinic's setup and bookings.
    ADMIN: [
        (app, model, action)
        for app, models in {
            "clinic": (
                "clinic",
                "closure",
                "equipment",
                "room",
                "provider",
                "workinghours",
                "timeoff",
                "appointmenttype",
                "overbookingrule",
                "patient",
                "apitoken",
            ),
            "scheduling": ("appointment", "waitlistentry"),
        }.items()
        for model in models
        for action in ("view", "add", "change", "delete")
    ]
    + [
        ("scheduling", "appointmenthistory", "view"),
        ("scheduling", "appointment", "cancel"),
        # Who viewed or changed which patient's data: the admin reads the audit trail.
        ("audit", "auditrecord", "view"),
    ],
}


def has_permission(user: Any, perm: str) -> bool:
    """``user.has_perm(perm)`` for the model backend, in one query where it takes two: the
    backend loads every permission of the user and their groups to answer one question,
    and the API asks exactly one per request."""
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    remembered = getattr(user, _REMEMBERED, None)
    if remembered is not None:
        return perm in remembered
    from django.contrib.auth.models import Permission  # the auth app must be ready

    app_label, codename = perm.split(".", 1)
    permission = Permission.objects.filter(codename=codename, content_type__app_label=app_label)
    # Through a role first (the usual case: one query), then granted to the user directly.
    return permission.filter(group__user=user).exists() or permission.filter(user=user).exists()


_REMEMBERED = "_api_permissions"


def remember_permissions(user: Any, permissions: list[str]) -> None:
    """Keep the permissions read with the user's API token on the user object for this
    request, so ``has_permission`` needs no query of its own."""
    setattr(user, _REMEMBERED, frozenset(permissions))


def load_permissions(user: Any) -> None:
    """Read all of the user's permissions once (two queries), so that the many questions
    a staff page asks (may they book, cancel, change?) need none of their own."""
    if getattr(user, _REMEMBERED, None) is None and user.is_authenticated:
        remember_permissions(user, list(user.get_all_permissions()))


def can_view_schedule(user: Any) -> bool:
    """Who may open the staff UI: every role sees the schedule."""
    return has_permission(user, "scheduling.view_appointment")


def can_book(user: Any) -> bool:
    return has_permission(user, "scheduling.add_appointment")


def can_cancel(user: Any) -> bool:
    """Cancelling notifies the patient and offers the time to others: the front desk's and
    the admin's job, not a clinician's (a permission of its own, not ``change``)."""
    return has_permission(user, "scheduling.cancel_appointment")


def can_add_patients(user: Any) -> bool:
    return has_permission(user, "clinic.add_patient")


def role_label(user: Any) -> str:
    """The name of the user's role, for the header: "Front desk", "Clinician", "Admin"."""
    if user.is_superuser:
        return "Admin"
    names = {group.name for group in user.groups.all()}
    for role in (ADMIN, FRONT_DESK, CLINICIAN):
        if role in names:
            return role.replace("_", " ").capitalize()
    return "No role"


def can_change_appointments(user: Any) -> bool:
    return has_permission(user, "scheduling.change_appointment")


def sync_role_groups(group_model, permission_model, content_type_model) -> None:  # type: ignore[no-untyped-def]
    """Create the role groups and give each exactly its permissions (idempotent)."""
    for role, triples in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        perms = []
        for app_label, model, action in triples:
            ct, _ = content_type_model.objects.get_or_create(app_label=app_label, model=model)
            perm, _ = permission_model.objects.get_or_create(
                content_type=ct,
                codename=f"{action}_{model}",
                defaults={"name": f"Can {action} {model}"},
            )
            perms.append(perm)
        group.permissions.set(perms)

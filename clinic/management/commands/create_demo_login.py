"""The demo's logins, for ``make demo``. Safe to run again: it resets the passwords.

The passwords are public (they are printed and documented): never run this against a
database that holds real patients. It refuses to run unless DEBUG is on.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from clinic.management.commands.create_api_token import role_group
from clinic.models import Clinic, Membership
from clinic.roles import ADMIN, CLINICIAN, FRONT_DESK

FRONT_DESK_URL = "http://127.0.0.1:8000/"
ADMIN_URL = "http://127.0.0.1:8000/admin/"
FRONT_DESK_LOGIN = ("frontdesk", "demo-frontdesk")
ADMIN_LOGIN = ("admin", "demo-admin")
CLINICIAN_LOGIN = ("clinician", "demo-clinician")


class Command(BaseCommand):
    help = (
        "Create (or reset) the demo logins: frontdesk (front desk role), admin (superuser) and "
        "clinician (the clinic's first provider, who sees their own appointments)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Known passwords on a production database would open it to anyone who read the README.
        if not settings.DEBUG:
            raise CommandError("create_demo_login runs only with DEBUG=true (development and the demo).")
        with transaction.atomic():
            frontdesk_created = self._ensure_user(*FRONT_DESK_LOGIN, superuser=False)
            admin_created = self._ensure_user(*ADMIN_LOGIN, superuser=True)
            clinician = self._clinician()

        logins = [
            (FRONT_DESK_LOGIN, frontdesk_created, "front desk"),
            (ADMIN_LOGIN, admin_created, "superuser"),
        ]
        if clinician is not None:
            logins.append((CLINICIAN_LOGIN, clinician[0], f"clinician ({clinician[1]})"))
        for (username, password), created, what in logins:
            state = "created" if created else "already existed, password reset"
            self.stdout.write(f"{what} login: {username} / {password}  ({state})")
        self.stdout.write(f"Front desk: {FRONT_DESK_URL}  (log in as frontdesk)")
        self.stdout.write(f"Admin: {ADMIN_URL}")

    def _clinician(self) -> tuple[bool, str] | None:
        """The clinician login as the only clinic's first provider, if there is one: whether
        it was created, and the provider's name."""
        clinics = list(Clinic.objects.order_by("code")[:2])
        provider = clinics[0].providers.order_by("code").first() if len(clinics) == 1 else None
        if provider is None:
            return None
        created = self._ensure_user(*CLINICIAN_LOGIN, superuser=False, role=CLINICIAN)
        user = get_user_model().objects.get(username=CLINICIAN_LOGIN[0])
        Membership.objects.update_or_create(user=user, clinic=clinics[0], defaults={"provider": provider})
        return created, provider.name

    def _ensure_user(self, username: str, password: str, *, superuser: bool, role: str = FRONT_DESK) -> bool:
        """Make the user exist with exactly the demo's password and flags; True if created."""
        user, created = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.is_active = True
        user.is_staff = True
        user.is_superuser = superuser
        user.save()
        # The superuser needs no group for permissions, but carries its role like everyone.
        user.groups.add(role_group(ADMIN if superuser else role))
        return created

"""Issue a JSON API token for a staff user, creating the user if missing.

The raw token is printed alone on the last line, so scripts can take it with ``tail -n 1``.
Only its SHA-256 is stored: it cannot be shown again.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from clinic.models import ApiToken
from clinic.roles import FRONT_DESK, ROLES, sync_role_groups


def role_group(role: str) -> Group:
    """The auth group for ``role``; recreated if missing (e.g. after ``flush``)."""
    try:
        return Group.objects.get(name=role)
    except Group.DoesNotExist:
        sync_role_groups(Group, Permission, ContentType)
        return Group.objects.get(name=role)


class Command(BaseCommand):
    help = "Create an API token for a staff user (created if missing) and print it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            metavar="|".join(ROLES),
            help=(
                f"One of {', '.join(ROLES)}. Default {FRONT_DESK}, given to a new user or "
                "to an existing one without a role; an existing user's roles are kept."
            ),
        )

    def handle(self, *args: Any, username: str, role: str | None, **options: Any) -> None:
        if role is not None and role not in ROLES:
            raise CommandError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")

        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(username=username)
            if created:
                # Token-only account: nobody can log in with a password until one is set.
                user.set_unusable_password()
            user.is_staff = True
            user.save()

            has_role = user.groups.filter(name__in=ROLES).exists()
            if role is not None or not has_role:
                user.groups.add(role_group(role or FRONT_DESK))
            roles = sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
            _, raw = ApiToken.issue(user)

        if not user.is_active:
            self.stderr.write(f"Warning: user {username!r} is inactive; the token will not work.")
        verb = "Created" if created else "Using existing"
        self.stdout.write(f"{verb} staff user {username!r} with role(s): {', '.join(roles)}.")
        self.stdout.write("API token (shown once, store it now):")
        self.stdout.write(raw)

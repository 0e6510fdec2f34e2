"""Issue a JSON API token for a staff user, creating the user if missing.

    manage.py create_api_token USER [--role R] [--clinic CODE]... [--provider CODE] [--days N]

The raw token is printed alone on the last line, so scripts can take it with ``tail -n 1``.
Only its SHA-256 is stored: it cannot be shown again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from clinic.models import ApiToken, Clinic, Membership, Provider
from clinic.roles import FRONT_DESK, ROLES, sync_role_groups


def role_group(role: str) -> Group:
    """The auth group for ``role``; recreated if missing (e.g. after ``flush``)."""
    try:
        return Group.objects.get(name=role)
    except Group.DoesNotExist:
        sync_role_groups(Group, Permission, ContentType)
        return Group.objects.get(name=role)


class Command(BaseCommand):
    help = "Create an API token for a staff user (created if missing), a member of the given clinics."

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
        parser.add_argument(
            "--clinic",
            action="append",
            default=[],
            metavar="CODE",
            help="A clinic the user works for (repeat for several). Default: the deployment's only clinic.",
        )
        parser.add_argument(
            "--provider",
            metavar="CODE",
            help="For a clinician: the provider they are (their own appointments are all they see).",
        )
        parser.add_argument(
            "--days", type=int, help="The token expires after this many days (default: never)."
        )

    def handle(
        self,
        *args: Any,
        username: str,
        role: str | None,
        clinic: list[str],
        provider: str | None,
        days: int | None,
        **options: Any,
    ) -> None:
        if role is not None and role not in ROLES:
            raise CommandError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
        if days is not None and days < 1:
            raise CommandError("--days must be 1 or more.")
        clinics = self._clinics(clinic)
        linked = None
        if provider is not None:
            if len(clinics) != 1:
                raise CommandError("--provider needs exactly one --clinic: the provider's.")
            linked = Provider.objects.filter(clinic=clinics[0], code=provider).first()
            if linked is None:
                raise CommandError(f"No provider {provider!r} at clinic {clinics[0].code!r}.")
        expires_at = timezone.now() + dt.timedelta(days=days) if days else None

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
            for each in clinics:
                membership, _ = Membership.objects.get_or_create(user=user, clinic=each)
                if linked is not None and membership.provider_id != linked.pk:
                    membership.provider = linked
                    membership.save(update_fields=["provider"])
            _, raw = ApiToken.issue(user, expires_at=expires_at)

        if not user.is_active:
            self.stderr.write(f"Warning: user {username!r} is inactive; the token will not work.")
        verb = "Created" if created else "Using existing"
        self.stdout.write(f"{verb} staff user {username!r} with role(s): {', '.join(roles)}.")
        if clinics:
            where = ", ".join(c.code for c in clinics)
            self.stdout.write(f"Member of: {where}" + (f" as provider {linked.code}" if linked else "") + ".")
        if expires_at:
            self.stdout.write(f"The token expires {expires_at:%Y-%m-%d %H:%M} UTC.")
        self.stdout.write("API token (shown once, store it now):")
        self.stdout.write(raw)

    def _clinics(self, codes: list[str]) -> list[Clinic]:
        if not codes:
            # No clinic yet: no membership; while the deployment has a single clinic, a
            # user with no membership works for it.
            clinics = list(Clinic.objects.order_by("code")[:2])
            if len(clinics) > 1:
                raise CommandError("Several clinics exist: name the user's with --clinic CODE.")
            return clinics
        found = {c.code: c for c in Clinic.objects.filter(code__in=codes)}
        missing = [code for code in codes if code not in found]
        if missing:
            raise CommandError(f"No clinic with code {', '.join(repr(c) for c in missing)}.")
        return [found[code] for code in dict.fromkeys(codes)]

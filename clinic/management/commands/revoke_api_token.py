"""Revoke API tokens: one by its prefix (as the admin lists it), or all of a user's."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.models import ApiToken
from clinic.services import revoke_tokens


class Command(BaseCommand):
    help = "Revoke an API token by its prefix, or every token of --user; they stop working at once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", nargs="?", help="The token's first 8 characters (see the admin).")
        parser.add_argument("--user", metavar="USERNAME", help="Revoke every token of this user.")

    def handle(self, *args: Any, prefix: str | None, user: str | None, **options: Any) -> None:
        if bool(prefix) == bool(user):
            raise CommandError("Give a token prefix or --user USERNAME (one of the two).")
        tokens = (
            ApiToken.objects.filter(prefix=prefix) if prefix else ApiToken.objects.filter(user__username=user)
        )
        if not tokens.exists():
            raise CommandError(
                f"No token with prefix {prefix!r}." if prefix else f"No token of user {user!r}."
            )
        revoked = revoke_tokens(tokens)
        self.stdout.write(f"Revoked {revoked} token(s); {tokens.count() - revoked} were revoked already.")

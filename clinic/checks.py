"""System checks for a deployment: what `manage.py check --deploy` should warn about.

With DEBUG off the settings refuse to load at all without a usable SECRET_KEY or
DATABASE_URL; these checks say the same to a `check --deploy` run with DEBUG on.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from clinic.settings import secret_key_problem


@checks.register(checks.Tags.security, deploy=True)
def secret_key_is_set(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    problem = secret_key_problem(settings.SECRET_KEY)
    if problem:
        return [
            checks.Error(
                f"SECRET_KEY {problem}.",
                hint="Set SECRET_KEY in the environment to a random string of 50 characters or more.",
                id="clinic.E001",
            )
        ]
    return []


@checks.register(checks.Tags.database, deploy=True)
def database_is_not_the_embedded_one(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DATABASE_IS_EMBEDDED:
        return [
            checks.Warning(
                "The database is the embedded development server (trust authentication, data under ./var).",
                hint="Set DATABASE_URL to the clinic's PostgreSQL server.",
                id="clinic.W001",
            )
        ]
    return []

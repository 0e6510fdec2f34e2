"""System checks for a deployment: what `manage.py check --deploy` should warn about."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from clinic.settings import DEV_SECRET_KEY


@checks.register(checks.Tags.security, deploy=True)
def secret_key_is_set(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.SECRET_KEY == DEV_SECRET_KEY:
        return [
            checks.Error(
                "SECRET_KEY is the development default.",
                hint="Set SECRET_KEY in the environment to a long random string.",
                id="clinic.E001",
            )
        ]
    return []

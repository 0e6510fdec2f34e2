from django.apps import AppConfig


class DeskConfig(AppConfig):
    """The front desk in the browser: server-rendered HTMX pages over the selectors and services."""

    name = "desk"
    verbose_name = "Front desk"

from django.apps import AppConfig


class CalendarsConfig(AppConfig):
    """Calendar feeds (iCalendar, RFC 5545): a provider's secret feed and one appointment's invitation."""

    name = "calendars"
    verbose_name = "Calendar feeds"

from django.urls import URLPattern, URLResolver, path, re_path

from calendars import views

app_name = "calendars"

urlpatterns: list[URLPattern | URLResolver] = [
    # token_urlsafe's alphabet only; anything else is no feed (Django's 404).
    re_path(r"^calendar/(?P<token>[A-Za-z0-9_-]{1,100})\.ics$", views.provider_feed, name="feed"),
    path(
        "api/v1/appointments/<int:appointment_id>.ics",
        views.appointment_invitation,
        name="appointment_invitation",
    ),
]

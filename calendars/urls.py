from django.urls import URLPattern, URLResolver

app_name = "calendars"

urlpatterns: list[URLPattern | URLResolver] = []

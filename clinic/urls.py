from typing import Any

from django.contrib import admin
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, include, path, re_path
from django.views import defaults

from clinic import views
from clinic.api import (
    api,
    api_not_found,
    as_error_envelope,
    error_response,
    is_api_path,
    json_errors,
    payload_too_large,
)
from clinic.api_resources import router as resources_router
from scheduling.api import router as slots_router
from scheduling.api_appointments import router as appointments_router
from scheduling.api_overbooking import router as overbooking_router

api.add_router("/", slots_router)
api.add_router("/", appointments_router)
api.add_router("/", resources_router)
api.add_router("/", overbooking_router)

api_patterns, api_app_name, api_namespace = api.urls
for pattern in api_patterns:
    # django-ninja answers a known path with the wrong method in plain text (405).
    if isinstance(pattern, URLPattern):
        pattern.callback = json_errors(pattern.callback)

urlpatterns = [
    path("health", views.health, name="health"),
    path("admin/", admin.site.urls),
    # Calendar feeds first: /api/v1/appointments/<id>.ics is theirs, not the JSON API's.
    path("", include("calendars.urls")),
    path("fhir/", include("fhir.urls")),
    path("offers/", include("offers.urls")),
    path("api/v1/", (api_patterns, api_app_name, api_namespace)),
    # Anything else under the API answers in the API's error envelope, not an HTML page.
    re_path(r"^api(?:/(?P<rest>.*))?$", api_not_found),
    # The front desk: everything else.
    path("", include("desk.urls")),
]


# Errors raised before any view runs (by a middleware, or while resolving) reach these.
# Under /api/ they answer in the envelope; elsewhere Django's own pages, as before.
def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_path(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return payload_too_large()
    return error_response(400, "bad_request", "The request cannot be parsed.")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_path(request):
        return defaults.permission_denied(request, exception)
    return error_response(403, "forbidden", "This request is refused.")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_path(request):
        return defaults.page_not_found(request, exception)
    return api_not_found(request)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    if not is_api_path(request):
        return defaults.server_error(request)
    return as_error_envelope(HttpResponse(status=500))


handler400 = bad_request
handler403 = permission_denied
handler404 = page_not_found
handler500 = server_error

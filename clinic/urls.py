from django.contrib import admin
from django.urls import include, path, re_path

from clinic import views
from clinic.api import api, api_not_found
from clinic.api_resources import router as resources_router
from scheduling.api import router as slots_router
from scheduling.api_appointments import router as appointments_router

api.add_router("/", slots_router)
api.add_router("/", appointments_router)
api.add_router("/", resources_router)

urlpatterns = [
    path("health", views.health, name="health"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Anything else under the API answers in the API's error envelope, not an HTML page.
    re_path(r"^api/v1/(?P<rest>.*)$", api_not_found),
    # The front desk: everything else.
    path("", include("desk.urls")),
]

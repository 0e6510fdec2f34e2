from django.contrib import admin
from django.urls import path, re_path

from clinic import views
from clinic.api import api, api_not_found
from scheduling.api import router as scheduling_router

api.add_router("/", scheduling_router)

urlpatterns = [
    path("health", views.health, name="health"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Anything else under the API answers in the API's error envelope, not an HTML page.
    re_path(r"^api/v1/(?P<rest>.*)$", api_not_found),
]

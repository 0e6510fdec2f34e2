from django.urls import URLPattern, URLResolver, path

from offers import views

app_name = "offers"

urlpatterns: list[URLPattern | URLResolver] = [
    # The token rides in the query string (GET) or the form (POST), never in the path: the
    # access logs record paths, not query strings or bodies.
    path("accept", views.accept, name="accept"),
]

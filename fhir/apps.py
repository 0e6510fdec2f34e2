from django.apps import AppConfig


class FhirConfig(AppConfig):
    """The FHIR R4 door under /fhir/: the same selectors and services as the JSON API."""

    name = "fhir"
    verbose_name = "FHIR R4"

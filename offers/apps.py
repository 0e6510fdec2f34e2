from django.apps import AppConfig


class OffersConfig(AppConfig):
    """Automatic waitlist offers: a freed slot offered to the best candidates, first to accept books it."""

    name = "offers"
    verbose_name = "Waitlist offers"

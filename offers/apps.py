from django.apps import AppConfig


class OffersConfig(AppConfig):
    """Automatic waitlist offers: a freed slot offered to the best candidates, first to accept books it."""

    name = "offers"
    verbose_name = "Waitlist offers"

    def ready(self) -> None:
        # scheduling announces freed time without knowing who listens (imports point down:
        # offers depends on scheduling, never the reverse).
        from offers.services import on_slot_freed
        from scheduling.signals import slot_freed

        slot_freed.connect(on_slot_freed, dispatch_uid="offers.on_slot_freed")

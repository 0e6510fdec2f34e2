"""The slot engine: pure Python over plain data. No Django, no ORM, no clock.

The caller (``scheduling.selectors``) reads a ``Snapshot`` from the database and passes
``now``; the engine answers with ranked ``Slot``s (``find_slots``) or a ``Verdict`` on one
exact slot (``check_slot``).
"""

from scheduling.engine.search import Verdict, check_slot, find_slots
from scheduling.engine.types import (
    AppointmentTypeSpec,
    Booking,
    ClinicRules,
    Factors,
    Interval,
    OverbookingRule,
    PatientPreferences,
    ProviderSpec,
    RoomSpec,
    SearchResult,
    Slot,
    SlotQuery,
    Snapshot,
    Weights,
    instant_of,
    micros,
)

__all__ = [
    "AppointmentTypeSpec",
    "Booking",
    "ClinicRules",
    "Factors",
    "Interval",
    "OverbookingRule",
    "PatientPreferences",
    "ProviderSpec",
    "RoomSpec",
    "SearchResult",
    "Slot",
    "SlotQuery",
    "Snapshot",
    "Verdict",
    "Weights",
    "check_slot",
    "find_slots",
    "instant_of",
    "micros",
]

"""FHIR ids for this project's objects, and the canonical URLs this server defines.

A FHIR id is ``[A-Za-z0-9\\-\\.]{1,64}``. Practitioners, Locations (rooms),
HealthcareServices (appointment types), Schedules (one per provider) and Patients are
named by their codes: a code is a lowercase slug of at most 64 characters (letters,
digits, ``-`` and ``_``), so only ``_`` needs a stand-in, and ``.`` (which no code holds)
is it. An Appointment's id is its number.

A Slot exists only as the engine computes it, so its id carries everything that books
it: ``<provider>-<room>-<type>-<start>-<seat>``, the first three as database keys (a
code may be 64 characters long, three of them would not fit), the start in minutes since
the Unix epoch (with ``.SS`` seconds after it in the unlikely case a working window
starts off the minute) and the seat (0 the regular one, 1.. an overbooking seat), e.g.
``4-7-2-30074880-0``. Database keys of up to 14 digits keep it within 64 characters
whatever the start; these are a clinic's providers, rooms and types, numbered from 1.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

# This server's own definitions: the room of a Slot, the codes of its appointment types,
# the identifiers of its objects, the stable error codes of its OperationOutcomes.
BASE = "https://clinic-scheduling-engine.example/fhir"
ROOM_EXTENSION = f"{BASE}/StructureDefinition/slot-room"
APPOINTMENT_TYPE_SYSTEM = f"{BASE}/CodeSystem/appointment-type"
ERROR_SYSTEM = f"{BASE}/CodeSystem/error"
BULK_PUBLISH_DEFINITION = f"{BASE}/OperationDefinition/bulk-publish"
IDENTIFIER_SYSTEMS = {
    "Practitioner": f"{BASE}/sid/provider",
    "Location": f"{BASE}/sid/room",
    "HealthcareService": f"{BASE}/sid/appointment-type",
    "Schedule": f"{BASE}/sid/provider",
    "Patient": f"{BASE}/sid/patient",
}
# SMART Scheduling Links: where a person books the slot.
BOOKING_DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"

# The clinic itself, as the Location that holds its rooms. Room ids are lowercase codes,
# so an id with a capital letter is never a room's.
CLINIC_LOCATION_ID = "Clinic"

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_CODE_ID = re.compile(r"[a-z0-9][a-z0-9.\-]{0,63}")


def code_id(code: str) -> str:
    """The FHIR id of an object with this code."""
    return code.replace("_", ".")


def id_code(fhir_id: str) -> str | None:
    """The code an id names, or None when no code could have that id."""
    if not _CODE_ID.fullmatch(fhir_id):
        return None
    return fhir_id.replace(".", "_")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SLOT_ID = re.compile(
    r"([1-9][0-9]{0,18})-([1-9][0-9]{0,18})-([1-9][0-9]{0,18})-([1-9][0-9]{0,9})(?:\.([0-5][0-9]))?-([0-9]{1,3})"
)
_MAX_KEY = 2**63 - 1


@dataclass(frozen=True)
class SlotKey:
    """What a Slot id names: provider, room and appointment type (database keys), the
    start and the seat."""

    provider_id: int
    room_id: int
    type_id: int
    start: dt.datetime
    seat: int

    @property
    def id(self) -> str:
        minutes, seconds = divmod(int((self.start - _EPOCH).total_seconds()), 60)
        at = f"{minutes}.{seconds:02d}" if seconds else str(minutes)
        return f"{self.provider_id}-{self.room_id}-{self.type_id}-{at}-{self.seat}"

    @classmethod
    def parse(cls, fhir_id: str) -> SlotKey | None:
        """The key a Slot id names, or None when it is not one this server gives out."""
        match = _SLOT_ID.fullmatch(fhir_id)
        if match is None:
            return None
        provider_id, room_id, type_id, minutes, seat = (int(match[i]) for i in (1, 2, 3, 4, 6))
        if max(provider_id, room_id, type_id) > _MAX_KEY or minutes > 540_000_000:  # past 2990
            return None
        start = _EPOCH + dt.timedelta(minutes=minutes, seconds=int(match[5] or 0))
        return cls(provider_id, room_id, type_id, start, seat)

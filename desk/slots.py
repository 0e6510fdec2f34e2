"""A ranked slot as the staff UI shows it: one line, and a button that books it."""

from __future__ import annotations

from dataclasses import dataclass

from clinic.models import Clinic
from scheduling.engine import Slot


@dataclass(frozen=True)
class SlotRow:
    slot: Slot
    when: str
    provider: str
    room: str
    value: str  # what the Book button sends: provider|room|start|overbook
    label: str  # the button's full context for a screen reader

    @property
    def percent(self) -> int:
        return round(self.slot.score * 100)


def slot_row(slot: Slot, clinic: Clinic, names: dict[str, str]) -> SlotRow:
    local = slot.start.astimezone(clinic.tz)
    provider = names.get(slot.provider, slot.provider)
    room = names.get(f"room:{slot.room}", slot.room)
    seat = f", overbooking seat {slot.seat}" if slot.overbook else ""
    return SlotRow(
        slot=slot,
        when=f"{local:%a %-d %b %H:%M}",
        provider=provider,
        room=room,
        value=f"{slot.provider}|{slot.room}|{slot.start.isoformat()}|{int(slot.overbook)}",
        label=f"Book {local:%A %-d %B, %H:%M}, {provider}, {room}{seat}",
    )

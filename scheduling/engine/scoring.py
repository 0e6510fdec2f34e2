"""The four quality factors of a slot, each in [0, 1], and the words that explain them.

score = w_preference * preference + w_compactness * compactness
        + w_room_switch * room_switch + w_overbooking * overbooking

preference   How well the slot fits what the patient said they prefer. Each stated
             dimension scores 1 when met and 0 when not (a time range scores 0.5 when the
             slot only overlaps it); the factor is their mean. No patient, or a patient
             with no preferences: 0.5, neutral, the same for every slot.
compactness  How tightly the slot packs the provider's day. Each side of the slot (the
             time before it and after it, up to the next booking, time off or window edge)
             scores 1 when it abuts, 0 when it leaves a gap too short for any appointment
             type the clinic offers (dead time), and 0.5 when the gap is still usable. The
             factor is the mean of the two sides. Overbooking seats sit on booked time and
             leave no gap: 0.5.
room_switch  1 when the provider's bookings just before and after (that day) are in the
             same room, or there are none; the share of those neighbours in this room
             otherwise (0.5 when one of two matches, 0 when neither does).
overbooking  1 for a regular seat; 1 / (k + 1) for overbooking seat k, so extra seats rank
             lower, and higher extra seats lower still.

Each function returns the factor; given a ``words`` list, it also appends why, in plain
language for the staff UI. The search scores every candidate without words and explains
only the slots it returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from scheduling.engine.types import WEEKDAY_KEYS, PatientPreferences, Weights

NEUTRAL = 0.5
MINUTE = 60_000_000  # microseconds: the search's unit of time


def _clock(t: dt.time) -> str:
    return t.strftime("%H:%M")


def preference(
    prefs: PatientPreferences,
    provider: str,
    start: dt.datetime,
    end: dt.datetime,
    tz: ZoneInfo,
    words: list[str] | None = None,
) -> float:
    if not prefs.stated:
        return NEUTRAL
    parts: list[float] = []
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if prefs.providers:
        met = provider in prefs.providers
        parts.append(1.0 if met else 0.0)
        if words is not None:
            words.append(
                "with a provider the patient prefers" if met else "not the patient's preferred provider"
            )
    if prefs.days:
        met = local_start.weekday() in prefs.days
        parts.append(1.0 if met else 0.0)
        if words is not None:
            day = WEEKDAY_KEYS[local_start.weekday()]
            words.append(f"on a preferred day ({day})" if met else f"not on a preferred day ({day})")
    if prefs.times:
        best, best_range = 0.0, prefs.times[0]
        same_day = local_end.date() == local_start.date()
        for low, high in prefs.times:
            within = same_day and low <= local_start.time() and local_end.time() <= high
            touches = local_start.time() < high and low < local_end.time()
            fit = 1.0 if within else 0.5 if touches else 0.0
            if fit > best:
                best, best_range = fit, (low, high)
        parts.append(best)
        if words is not None:
            span = f"{_clock(best_range[0])}-{_clock(best_range[1])}"
            if best == 1.0:
                words.append(f"fits the patient's preferred time {span}")
            elif best:
                words.append(f"partly in the patient's preferred time {span}")
            else:
                words.append("outside the patient's preferred times")
    return sum(parts) / len(parts)


def _side(gap: int, shortest: int, abutting: str, words: list[str] | None) -> float:
    if gap <= 0:
        if words is not None:
            words.append(abutting)
        return 1.0
    if gap < shortest:
        if words is not None:
            words.append(f"leaves a {gap // MINUTE}-minute gap too short for any appointment")
        return 0.0
    return NEUTRAL


def compactness(
    gap_before: int,
    gap_after: int,
    before_is_booking: bool,
    after_is_booking: bool,
    shortest: int,
    words: list[str] | None = None,
) -> float:
    """Gaps and ``shortest`` in microseconds, as the search measures time."""
    if before_is_booking and after_is_booking and gap_before <= 0 and gap_after <= 0:
        if words is not None:
            words.append("closes a gap exactly")
        return 1.0
    before = _side(
        gap_before,
        shortest,
        "right after a booking" if before_is_booking else "at the start of a working window",
        words,
    )
    after = _side(
        gap_after,
        shortest,
        "right before a booking" if after_is_booking else "at the end of a working window",
        words,
    )
    return (before + after) / 2


def room_switch(room: str, neighbour_rooms: Sequence[str], words: list[str] | None = None) -> float:
    if not neighbour_rooms:
        return 1.0
    same = neighbour_rooms.count(room)
    if words is not None:
        if same == len(neighbour_rooms):
            words.append(f"the provider stays in room {room}")
        elif same:
            words.append(f"the provider uses room {room} on one side")
        else:
            words.append(f"the provider must switch to room {room}")
    return same / len(neighbour_rooms)


def overbooking(seat: int, words: list[str] | None = None) -> float:
    if seat == 0:
        return 1.0
    if words is not None:
        words.append(f"overbooking seat {seat}: shares the provider's booked time")
    return 1.0 / (seat + 1)


def weighted(
    weights: Weights, preference: float, compactness: float, room_switch: float, overbooking: float
) -> float:
    """The score: the one formula, used to rank every candidate and to explain the ones returned."""
    return round(
        weights.preference * preference
        + weights.compactness * compactness
        + weights.room_switch * room_switch
        + weights.overbooking * overbooking,
        4,
    )

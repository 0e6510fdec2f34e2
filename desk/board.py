"""The day board's geometry: where each appointment, break and free cell sits on the grid.

Pure arithmetic over what ``scheduling.selectors.day_board`` read: the engine's snapshot
(hours, time off, closures) and the day's appointments. Positions are in pixels from the
top of the grid, so the template only places boxes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scheduling import engine
from scheduling.engine.calendar import instant, working_windows
from scheduling.engine.intervals import Span, merge, subtract

PX_PER_MINUTE = 1.6  # a 15-minute row is 24 px: five providers and a working day fit 1366x768
DEFAULT_HOURS = (dt.time(8), dt.time(18))
PALETTE_SIZE = 8  # type colours, .type-0 .. .type-7 in desk.css
LATE_STATUSES = ("booked", "confirmed")


@dataclass
class Block:
    appointment: Any
    top: float
    height: float
    lane: int = 0
    lanes: int = 1
    buffer_before: float = 0.0
    buffer_after: float = 0.0
    late: bool = False
    colour: int = 0
    label: str = ""

    @property
    def compact(self) -> bool:
        """Too short for three lines: time, name and status on one."""
        return self.height < 40

    @property
    def left_pct(self) -> float:
        return round(100 * self.lane / self.lanes, 2)

    @property
    def width_pct(self) -> float:
        return round(100 / self.lanes, 2)


@dataclass
class Shade:
    top: float
    height: float
    label: str


@dataclass
class Cell:
    start: dt.datetime
    top: float
    height: float
    label: str


@dataclass
class Column:
    code: str
    name: str
    blocks: list[Block] = field(default_factory=list)
    shades: list[Shade] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Board:
    day: dt.date
    view: str  # "providers" or "rooms"
    start: dt.datetime  # the grid's first instant
    end: dt.datetime
    columns: list[Column]
    hours: list[tuple[str, float]]  # ("09:00", top)
    height: float
    closed: bool
    now_top: float | None
    slot_minutes: int

    @property
    def start_epoch_ms(self) -> int:
        return int(self.start.timestamp() * 1000)


def build(
    *,
    snapshot: engine.Snapshot,
    appointments: Sequence[Any],
    day: dt.date,
    view: str,
    names: dict[str, str],
    type_codes: Sequence[str],
    now: dt.datetime,
) -> Board:
    """Lay out ``day`` with one column per provider (``view="providers"``) or per room.

    ``names`` maps "provider:<code>" and "room:<code>" to the names people read; ``type_codes`` fixes
    each appointment type's colour (its position, so colours are stable from day to day).
    """
    rules = snapshot.rules
    tz = rules.tz
    closed = day in rules.closures
    windows = {p.code: merge(_spans(working_windows(p, day, tz))) for p in snapshot.providers}
    first, last = _grid_range(day, tz, windows.values(), appointments)
    px = _Scale(first)
    colours = {code: i % PALETTE_SIZE for i, code in enumerate(sorted(type_codes))}
    opening = merge(span for spans in windows.values() for span in spans)

    # Each column: its code, its name, the time it can be booked, its time off, its visits.
    lanes: list[tuple[str, str, list[Span], list[Span], list[Any]]] = []
    if view == "rooms":
        for room in snapshot.rooms:
            mine = [a for a in appointments if a.room.code == room.code]
            lanes.append((room.code, names.get(f"room:{room.code}", room.code), opening, [], mine))
    else:
        for provider in snapshot.providers:
            off = merge((t.start, t.end) for t in provider.time_off)
            mine = [a for a in appointments if a.provider.code == provider.code]
            name = names.get(f"provider:{provider.code}", provider.code)
            lanes.append((provider.code, name, subtract(windows[provider.code], off), off, mine))
    columns = [
        _column(code, name, [] if closed else free, off, mine, px, first, last, rules, closed)
        for code, name, free, off, mine in lanes
    ]
    for column in columns:
        for block in column.blocks:
            a = block.appointment
            block.colour = colours.get(a.appointment_type.code, 0)
            block.late = a.status in LATE_STATUSES and a.start <= now
            block.label = _block_label(a, column.name, tz)
        _assign_lanes(column.blocks)
        for cell in column.cells:
            cell.label = f"{cell.start.astimezone(tz):%A %-d %B, %H:%M}, {column.name}, free"

    hours = []
    cursor = first
    while cursor < last:
        hours.append((f"{cursor.astimezone(tz):%H:%M}", px.top(cursor)))
        cursor += dt.timedelta(hours=1)
    now_top = px.top(now) if first <= now < last else None
    return Board(
        day=day,
        view=view,
        start=first,
        end=last,
        columns=columns,
        hours=hours,
        height=px.top(last),
        closed=closed,
        now_top=now_top,
        slot_minutes=rules.slot_minutes,
    )


class _Scale:
    def __init__(self, origin: dt.datetime):
        self.origin = origin

    def top(self, moment: dt.datetime) -> float:
        return round((moment - self.origin).total_seconds() / 60 * PX_PER_MINUTE, 1)

    def height(self, start: dt.datetime, end: dt.datetime) -> float:
        return round((end - start).total_seconds() / 60 * PX_PER_MINUTE, 1)


def _spans(intervals: Iterable[engine.Interval]) -> list[Span]:
    return [(i.start, i.end) for i in intervals]


def _grid_range(
    day: dt.date, tz: Any, windows: Iterable[list[Span]], appointments: Sequence[Any]
) -> tuple[dt.datetime, dt.datetime]:
    """Whole hours from the earliest opening (or appointment) to the latest."""
    starts = [span[0] for spans in windows for span in spans] + [a.start for a in appointments]
    ends = [span[1] for spans in windows for span in spans] + [a.end for a in appointments]
    day_start, day_end = instant(day, dt.time(0), tz), instant(day + dt.timedelta(days=1), dt.time(0), tz)
    if not starts:
        return instant(day, DEFAULT_HOURS[0], tz), instant(day, DEFAULT_HOURS[1], tz)
    first = max(min(starts), day_start)
    last = min(max(ends), day_end)
    local_first = first.astimezone(tz)
    first = first - dt.timedelta(minutes=local_first.minute, seconds=local_first.second)
    local_last = last.astimezone(tz)
    if local_last.minute or local_last.second:
        last = last + dt.timedelta(minutes=60 - local_last.minute, seconds=-local_last.second)
    return first, max(last, first + dt.timedelta(hours=1))


def _column(
    code: str,
    name: str,
    free: list[Span],
    time_off: list[Span],
    appointments: list[Any],
    px: _Scale,
    first: dt.datetime,
    last: dt.datetime,
    rules: engine.ClinicRules,
    closed: bool,
) -> Column:
    column = Column(code=code, name=name)
    # Shade everything that is not working time, saying why.
    for start, end in subtract([(first, last)], free):
        if closed:
            label = "Closed"
        elif any(s < end and e > start for s, e in time_off):
            label = "Time off"
        elif free and free[0][0] < start and end < free[-1][1]:
            label = "Break"
        else:
            label = "Not working"
        column.shades.append(Shade(px.top(start), px.height(start, end), label))

    for a in appointments:
        top = px.top(a.start)
        column.blocks.append(
            Block(
                appointment=a,
                top=top,
                height=max(px.height(a.start, a.end), 14.0),
                buffer_before=px.height(a.blocked_start, a.start),
                buffer_after=px.height(a.end, a.blocked_end),
            )
        )

    # Free cells: each grid row inside working time that no regular-seat booking holds.
    held = merge((a.blocked_start, a.blocked_end) for a in appointments if a.seat == 0 and a.is_active)
    step = dt.timedelta(minutes=rules.slot_minutes)
    for start, end in free:
        moment = start
        while moment + step <= end:
            if not any(s < moment + step and e > moment for s, e in held):
                column.cells.append(Cell(moment, px.top(moment), px.height(moment, moment + step), ""))
            moment += step
    return column


def _assign_lanes(blocks: list[Block]) -> None:
    """Side by side where visits overlap: each block takes the lowest free lane (its seat
    first), and every block of an overlapping group is as wide as the group allows."""
    placed: list[Block] = []
    for block in sorted(blocks, key=lambda b: (b.appointment.seat, b.appointment.start)):
        a = block.appointment
        taken = {
            other.lane
            for other in placed
            if other.appointment.start < a.end and a.start < other.appointment.end
        }
        lane = a.seat if a.seat not in taken else 0
        while lane in taken:
            lane += 1
        block.lane = lane
        placed.append(block)
    for block in blocks:
        a = block.appointment
        block.lanes = 1 + max(
            other.lane
            for other in blocks
            if other.appointment.start < a.end and a.start < other.appointment.end
        )


def _block_label(a: Any, column_name: str, tz: Any) -> str:
    seat = f", overbooking seat {a.seat}" if a.seat else ""
    return (
        f"{a.start.astimezone(tz):%H:%M}-{a.end.astimezone(tz):%H:%M} {a.patient.full_name},"
        f" {a.appointment_type.name}, {a.get_status_display().lower()}{seat}, {column_name}"
    )

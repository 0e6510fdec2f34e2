"""Parse and validate a clinic file (already decoded from JSON) into plain dataclasses.

Pure: no database. Every problem is collected, each with its JSON path, so one run shows
them all. References must resolve inside the file: a file describes its clinic whole.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from clinic.clinic_file.bookings import assign_seats, booking_warnings, find_overlaps, seat_limit
from clinic.clinic_file.spec import (
    DEFAULT_NO_SHOW_GRACE_MINUTES,
    DEFAULT_WEIGHTS,
    STATUSES,
    WAITLIST_STATUSES,
    AppointmentSpec,
    AppointmentTypeSpec,
    ClinicFile,
    ClinicSpec,
    ClosureSpec,
    EquipmentSpec,
    OverbookingRuleSpec,
    ParseResult,
    PatientSpec,
    ProviderSpec,
    RoomSpec,
    TimeOffSpec,
    WaitlistSpec,
    WindowSpec,
)
from clinic.services import _phone as normalize_phone  # the API's own, so every door stores alike

UTC = dt.UTC
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SECTIONS = (
    "clinic",
    "equipment",
    "rooms",
    "appointment_types",
    "providers",
    "overbooking_rules",
    "patients",
    "appointments",
    "waitlist",
)
CODE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
TIME_RE = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Bounds of the database columns (PositiveSmallIntegerField, PositiveIntegerField).
SMALL_MAX = 32767
INT_MAX = 2**31 - 1
DAY_MINUTES = 24 * 60

T = TypeVar("T")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    """A value as it looks in the file."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _in_file_order(problems: Iterable[str]) -> tuple[str, ...]:
    """Problems by section in the file's order (root problems first), then by entry;
    a stable sort, so one entry's problems keep the order they were found in."""

    def position(problem: str) -> tuple[int, int]:
        match = re.match(r"(\w+)(?:\[(\d+)\])?", problem)
        head = match.group(1) if match else ""
        section = SECTIONS.index(head) if head in SECTIONS else -1
        return section, int(match.group(2)) if match and match.group(2) else -1

    return tuple(sorted(problems, key=position))


def _clock(value: dt.time) -> str:
    return f"{value:%H:%M}"


class _Reader:
    """Reads values out of decoded JSON, recording a problem for each bad one.

    Readers return a harmless fallback after an error so that parsing goes on and finds
    the remaining problems; the result is thrown away when any error was recorded.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.tz: zoneinfo.ZoneInfo | None = None

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def obj(
        self, value: Any, path: str, *, required: Iterable[str] = (), optional: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(path or "file", "expected an object")
            return None
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key in value:
            if key not in allowed:
                self.error(_join(path, str(key)), "unknown key")
        for key in required:
            if key not in value:
                self.error(_join(path, key), "required")
        return value

    def items(self, obj: dict[str, Any], key: str, path: str) -> list[tuple[str, Any]]:
        """The ``(path, item)`` pairs of an optional list (absent or null: empty)."""
        value = obj.get(key)
        where = _join(path, key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(where, "expected a list")
            return []
        return [(f"{where}[{i}]", item) for i, item in enumerate(value)]

    def string(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        *,
        max_length: int,
        blank: bool = True,
        default: str = "",
    ) -> str:
        value = obj.get(key, default)
        where = _join(path, key)
        if not isinstance(value, str):
            if key in obj:  # a missing required key was reported already
                self.error(where, "expected a string")
            return default
        if not blank and not value.strip():
            self.error(where, "must not be empty")
        elif len(value) > max_length:
            self.error(where, f"longer than {max_length} characters")
        return value

    def integer(
        self, obj: dict[str, Any], key: str, path: str, *, default: int, minimum: int, maximum: int
    ) -> int:
        value = obj.get(key, default)
        where = _join(path, key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(where, "expected a whole number")
            return default
        if not minimum <= value <= maximum:
            self.error(where, f"{value} is not between {minimum} and {maximum}")
            return default
        return value

    def weight(self, obj: dict[str, Any], key: str, path: str) -> float:
        value = obj.get(key, DEFAULT_WEIGHTS[key])
        where = _join(path, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.error(where, "expected a number")
            return DEFAULT_WEIGHTS[key]
        if value < 0:
            self.error(where, f"{value} is negative")
        return float(value)

    def boolean(self, obj: dict[str, Any], key: str, path: str) -> bool:
        value = obj.get(key, False)
        if not isinstance(value, bool):
            self.error(_join(path, key), "expected true or false")
            return False
        return value

    def code(self, obj: dict[str, Any], key: str, path: str) -> str:
        value = obj.get(key)
        where = _join(path, key)
        if not isinstance(value, str):
            if key in obj:
                self.error(where, "expected a string")
            return ""
        if not CODE_RE.fullmatch(value):
            self.error(
                where,
                f"{_show(value)} is not a code (a slug: lowercase letters, digits, '-' and '_', "
                "starting with a letter or digit, at most 64)",
            )
        return value

    def ref(self, value: Any, path: str, kind: str, known: Mapping[str, object]) -> str | None:
        """The code, if it names a known ``kind``; else an error naming the reference."""
        if not isinstance(value, str):
            self.error(path, f"expected a {kind} code")
            return None
        if value not in known:
            self.error(path, f"unknown {kind} {_show(value)}")
            return None
        return value

    def clock(self, value: Any, path: str) -> dt.time | None:
        if not isinstance(value, str) or not TIME_RE.fullmatch(value):
            self.error(path, f"{_show(value)} is not a time HH:MM")
            return None
        return dt.time.fromisoformat(value)

    def window(self, value: Any, path: str) -> tuple[dt.time, dt.time] | None:
        """A ``["HH:MM", "HH:MM"]`` pair whose end is after its start."""
        if not isinstance(value, list) or len(value) != 2:
            self.error(path, 'expected ["HH:MM", "HH:MM"]')
            return None
        start = self.clock(value[0], f"{path}[0]")
        end = self.clock(value[1], f"{path}[1]")
        if start is None or end is None:
            return None
        if end <= start:
            self.error(path, f"end {_clock(end)} is not after start {_clock(start)}")
            return None
        return start, end

    def date(self, value: Any, path: str) -> dt.date | None:
        if isinstance(value, str) and DATE_RE.fullmatch(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.error(path, f"{_show(value)} is not a date YYYY-MM-DD")
        return None

    def datetime(self, value: Any, path: str) -> dt.datetime | None:
        """An instant (in UTC) from local ``YYYY-MM-DDTHH:MM`` or one with an offset.

        A local time the clocks skip, or one they repeat, is an error: only an offset says
        which instant is meant.
        """
        parsed = None
        if isinstance(value, str) and DATE_RE.fullmatch(value[:10]) and value[10:11] == "T":
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                pass
        if parsed is None:
            self.error(path, f"{_show(value)} is not a datetime YYYY-MM-DDTHH:MM")
            return None
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        tz = self.tz or zoneinfo.ZoneInfo("UTC")  # a bad timezone was reported already
        first = parsed.replace(tzinfo=tz, fold=0)
        second = parsed.replace(tzinfo=tz, fold=1)
        if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != parsed:
            self.error(path, f"{value} does not exist in {tz.key}: the clocks skip it")
            return None
        if first.utcoffset() != second.utcoffset():
            self.error(
                path,
                f"{value} happens twice in {tz.key} (the clocks go back): add the offset, "
                f"{value}{_offset(first)} or {value}{_offset(second)}",
            )
            return None
        return first.astimezone(UTC)


def _offset(moment: dt.datetime) -> str:
    return moment.isoformat()[-6:]


def _section(
    reader: _Reader,
    data: dict[str, Any],
    key: str,
    parse_item: Callable[[Any, str], T | None],
) -> tuple[T, ...]:
    """Parse each entry of a top-level list; entries with errors are left out."""
    parsed = []
    for path, item in reader.items(data, key, ""):
        before = len(reader.errors)
        result = parse_item(item, path)
        if result is not None and len(reader.errors) == before:
            parsed.append(result)
    return tuple(parsed)


class _Parser:
    def __init__(self) -> None:
        self.r = _Reader()
        # The path of every code an entry declares, valid or not, so that one bad entry
        # does not also turn each reference to it into an error.
        self.equipment: dict[str, str] = {}
        self.providers: dict[str, str] = {}
        self.rooms: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self.patients: dict[str, str] = {}
        # Types by code, for the durations and buffers of appointments.
        self.type_specs: dict[str, AppointmentTypeSpec] = {}

    def declare(self, root: dict[str, Any], key: str) -> dict[str, str]:
        """The codes a section declares, by path; reports duplicates. References resolve
        against these, whatever order the sections come in."""
        declared: dict[str, str] = {}
        items = root.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            code = item.get("code") if isinstance(item, dict) else None
            if not isinstance(code, str):
                continue
            path = f"{key}[{i}]"
            if code in declared:
                self.r.error(f"{path}.code", f"duplicate code {_show(code)} (also {declared[code]})")
            else:
                declared[code] = path
        return declared

    def parse(self, data: Any) -> ParseResult:
        r = self.r
        root = r.obj(data, "", required=("clinic",), optional=SECTIONS)
        if root is None:
            return ParseResult(file=None, errors=tuple(r.errors))
        self.equipment = self.declare(root, "equipment")
        self.rooms = self.declare(root, "rooms")
        self.types = self.declare(root, "appointment_types")
        self.providers = self.declare(root, "providers")
        self.patients = self.declare(root, "patients")
        clinic = self.clinic(root["clinic"], "clinic") if "clinic" in root else None
        equipment = _section(r, root, "equipment", self.equipment_item)
        rooms = _section(r, root, "rooms", self.room)
        types = _section(r, root, "appointment_types", self.appointment_type)
        providers = _section(r, root, "providers", self.provider)
        rules = self.overbooking_rules(root)
        patients = _section(r, root, "patients", self.patient)
        appointments = _section(r, root, "appointments", self.appointment)
        waitlist = _section(r, root, "waitlist", self.waitlist_entry)
        if clinic is None or r.errors:
            return ParseResult(file=None, errors=_in_file_order(r.errors))

        file = ClinicFile(
            clinic=clinic,
            equipment=equipment,
            rooms=rooms,
            appointment_types=types,
            providers=providers,
            overbooking_rules=rules,
            patients=patients,
            appointments=appointments,
            waitlist=waitlist,
        )
        seats, seat_errors = assign_seats(appointments, seat_limit(rules))
        seated = tuple(
            dataclasses.replace(a, seat=seat or 0) for a, seat in zip(appointments, seats, strict=True)
        )
        unseated = [i for i, seat in enumerate(seats) if seat is None]
        errors = seat_errors + find_overlaps(seated, unseated)
        if errors:
            return ParseResult(file=None, errors=_in_file_order(errors))
        file = dataclasses.replace(file, appointments=seated)
        return ParseResult(file=file, errors=(), warnings=tuple(booking_warnings(file, seated)))

    # --- the clinic -------------------------------------------------------------------

    def clinic(self, value: Any, path: str) -> ClinicSpec | None:
        r = self.r
        obj = r.obj(
            value,
            path,
            required=("code", "name", "timezone"),
            optional=(
                "slot_minutes",
                "min_notice_minutes",
                "booking_horizon_days",
                "scoring_weights",
                "closures",
                "no_show_grace_minutes",
            ),
        )
        if obj is None:
            return None
        timezone = r.string(obj, "timezone", path, max_length=64, blank=False)
        if timezone:
            try:
                r.tz = zoneinfo.ZoneInfo(timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                r.error(_join(path, "timezone"), f"{_show(timezone)} is not an IANA time zone name")
        weights = dict(DEFAULT_WEIGHTS)
        if "scoring_weights" in obj:
            where = _join(path, "scoring_weights")
            raw = r.obj(obj["scoring_weights"], where, optional=DEFAULT_WEIGHTS)
            if raw is not None:
                weights = {key: r.weight(raw, key, where) for key in DEFAULT_WEIGHTS}
        closures: list[ClosureSpec] = []
        closure_paths: dict[dt.date, str] = {}
        for where, item in r.items(obj, "closures", path):
            closure = self.closure(item, where, closure_paths)
            if closure is not None:
                closures.append(closure)
                closure_paths[closure.date] = where
        return ClinicSpec(
            code=r.code(obj, "code", path),
            name=r.string(obj, "name", path, max_length=200, blank=False),
            timezone=timezone,
            slot_minutes=r.integer(obj, "slot_minutes", path, default=15, minimum=1, maximum=DAY_MINUTES),
            min_notice_minutes=r.integer(
                obj, "min_notice_minutes", path, default=0, minimum=0, maximum=INT_MAX
            ),
            booking_horizon_days=r.integer(
                obj, "booking_horizon_days", path, default=365, minimum=0, maximum=INT_MAX
            ),
            weight_preference=weights["preference"],
            weight_compactness=weights["compactness"],
            weight_room_switch=weights["room_switch"],
            weight_overbooking=weights["overbooking"],
            no_show_grace_minutes=r.integer(
                obj,
                "no_show_grace_minutes",
                path,
                default=DEFAULT_NO_SHOW_GRACE_MINUTES,
                minimum=0,
                maximum=INT_MAX,
            ),
            closures=tuple(closures),
        )

    def closure(self, value: Any, path: str, seen: dict[dt.date, str]) -> ClosureSpec | None:
        r = self.r
        obj = r.obj(value, path, required=("date",), optional=("reason",))
        if obj is None or "date" not in obj:
            return None
        day = r.date(obj["date"], _join(path, "date"))
        reason = r.string(obj, "reason", path, max_length=200)
        if day is None:
            return None
        if day in seen:
            r.error(_join(path, "date"), f"duplicate closure {day.isoformat()} (also {seen[day]})")
            return None
        return ClosureSpec(date=day, reason=reason)

    # --- resources ----------------------------------------------------------------------

    def equipment_item(self, value: Any, path: str) -> EquipmentSpec | None:
        r = self.r
        obj = r.obj(value, path, required=("code", "name"))
        if obj is None:
            return None
        code = r.code(obj, "code", path)
        return EquipmentSpec(code=code, name=r.string(obj, "name", path, max_length=200, blank=False))

    def provider(self, value: Any, path: str) -> ProviderSpec | None:
        r = self.r
        obj = r.obj(value, path, required=("code", "name"), optional=("working_hours", "time_off"))
        if obj is None:
            return None
        code = r.code(obj, "code", path)
        return ProviderSpec(
            code=code,
            name=r.string(obj, "name", path, max_length=200, blank=False),
            working_hours=self.working_hours(obj.get("working_hours"), _join(path, "working_hours")),
            time_off=tuple(
                t
                for where, item in r.items(obj, "time_off", path)
                if (t := self.time_off(item, where)) is not None
            ),
        )

    def working_hours(self, value: Any, path: str) -> tuple[WindowSpec, ...]:
        r = self.r
        if value is None:
            return ()
        obj = r.obj(value, path, optional=WEEKDAY_KEYS)
        if obj is None:
            return ()
        windows: list[WindowSpec] = []
        for weekday, key in enumerate(WEEKDAY_KEYS):
            day: list[tuple[WindowSpec, str]] = []
            for where, item in r.items(obj, key, path):
                pair = r.window(item, where)
                if pair is not None:
                    day.append((WindowSpec(weekday, *pair), where))
            day.sort()
            for (previous, previous_path), (window, where) in zip(day, day[1:], strict=False):
                if window.start < previous.end:
                    label = previous_path.rsplit(".", 1)[-1]
                    r.error(
                        where,
                        f"overlaps {label} ({_clock(previous.start)}-{_clock(previous.end)})",
                    )
            windows.extend(w for w, _ in day)
        return tuple(windows)

    def time_off(self, value: Any, path: str) -> TimeOffSpec | None:
        r = self.r
        obj = r.obj(value, path, required=("start", "end"), optional=("reason",))
        if obj is None or "start" not in obj or "end" not in obj:
            return None
        start = r.datetime(obj["start"], _join(path, "start"))
        end = r.datetime(obj["end"], _join(path, "end"))
        reason = r.string(obj, "reason", path, max_length=200)
        if start is None or end is None:
            return None
        if end <= start:
            r.error(_join(path, "end"), f"{obj['end']} is not after start {obj['start']}")
            return None
        return TimeOffSpec(start=start, end=end, reason=reason)

    def codes(
        self, obj: dict[str, Any], key: str, path: str, kind: str, known: Mapping[str, object]
    ) -> frozenset[str]:
        """A list of references, each of which must name a known ``kind``."""
        found = set()
        for where, item in self.r.items(obj, key, path):
            code = self.r.ref(item, where, kind, known)
            if code is not None:
                found.add(code)
        return frozenset(found)

    def room(self, value: Any, path: str) -> RoomSpec | None:
        r = self.r
        obj = r.obj(value, path, required=("code", "name"), optional=("equipment",))
        if obj is None:
            return None
        code = r.code(obj, "code", path)
        return RoomSpec(
            code=code,
            name=r.string(obj, "name", path, max_length=200, blank=False),
            equipment=self.codes(obj, "equipment", path, "equipment", self.equipment),
        )

    def appointment_type(self, value: Any, path: str) -> AppointmentTypeSpec | None:
        r = self.r
        obj = r.obj(
            value,
            path,
            required=("code", "name", "duration_minutes"),
            optional=(
                "buffer_before_minutes",
                "buffer_after_minutes",
                "required_equipment",
                "providers",
            ),
        )
        if obj is None:
            return None
        code = r.code(obj, "code", path)
        spec = AppointmentTypeSpec(
            code=code,
            name=r.string(obj, "name", path, max_length=200, blank=False),
            duration_minutes=r.integer(
                obj, "duration_minutes", path, default=1, minimum=1, maximum=DAY_MINUTES
            ),
            buffer_before_minutes=r.integer(
                obj, "buffer_before_minutes", path, default=0, minimum=0, maximum=DAY_MINUTES
            ),
            buffer_after_minutes=r.integer(
                obj, "buffer_after_minutes", path, default=0, minimum=0, maximum=DAY_MINUTES
            ),
            required_equipment=self.codes(obj, "required_equipment", path, "equipment", self.equipment),
            providers=self.codes(obj, "providers", path, "provider", self.providers),
        )
        self.type_specs.setdefault(code, spec)
        return spec

    def overbooking_rules(self, root: dict[str, Any]) -> tuple[OverbookingRuleSpec, ...]:
        r = self.r
        rules: list[OverbookingRuleSpec] = []
        scopes: dict[tuple[str | None, str | None], str] = {}
        for path, item in r.items(root, "overbooking_rules", ""):
            obj = r.obj(item, path, required=("max_extra",), optional=("provider", "appointment_type"))
            if obj is None:
                continue
            before = len(r.errors)
            provider = obj.get("provider")
            kind = obj.get("appointment_type")
            if provider is not None:
                r.ref(provider, _join(path, "provider"), "provider", self.providers)
            if kind is not None:
                r.ref(kind, _join(path, "appointment_type"), "appointment type", self.types)
                if provider is None:
                    r.error(path, "a rule for an appointment type must also name its provider")
            max_extra = r.integer(obj, "max_extra", path, default=0, minimum=0, maximum=SMALL_MAX)
            if len(r.errors) != before:
                continue
            scope = (provider, kind)
            if scope in scopes:
                r.error(path, f"a rule for the same scope exists already ({scopes[scope]})")
                continue
            scopes[scope] = path
            rules.append(OverbookingRuleSpec(provider, kind, max_extra))
        return tuple(rules)

    # --- people and bookings --------------------------------------------------------------

    def patient(self, value: Any, path: str) -> PatientSpec | None:
        r = self.r
        obj = r.obj(
            value,
            path,
            required=("code", "first_name", "last_name"),
            optional=("birth_date", "phone", "email", "preferences"),
        )
        if obj is None:
            return None
        code = r.code(obj, "code", path)
        birth_date = None
        if obj.get("birth_date") is not None:
            birth_date = r.date(obj["birth_date"], _join(path, "birth_date"))
        email = r.string(obj, "email", path, max_length=254)
        if email:
            try:
                EmailValidator()(email)
            except ValidationError:
                r.error(_join(path, "email"), f"{_show(email)} is not an email address")
        providers: frozenset[str] = frozenset()
        days: tuple[str, ...] = ()
        times: list[tuple[str, str]] = []
        if obj.get("preferences") is not None:
            where = _join(path, "preferences")
            prefs = r.obj(obj["preferences"], where, optional=("providers", "days", "times"))
            if prefs is not None:
                providers = self.codes(prefs, "providers", where, "provider", self.providers)
                keys = set()
                for day_path, day in r.items(prefs, "days", where):
                    if day in WEEKDAY_KEYS:
                        keys.add(day)
                    else:
                        r.error(day_path, f"{_show(day)} is not a weekday key (mon .. sun)")
                days = tuple(k for k in WEEKDAY_KEYS if k in keys)
                for time_path, item in r.items(prefs, "times", where):
                    pair = r.window(item, time_path)
                    if pair is not None:
                        times.append((_clock(pair[0]), _clock(pair[1])))
        return PatientSpec(
            code=code,
            first_name=r.string(obj, "first_name", path, max_length=100, blank=False),
            last_name=r.string(obj, "last_name", path, max_length=100, blank=False),
            birth_date=birth_date,
            phone=self.phone(obj, path),
            email=email,
            preferred_providers=providers,
            preferred_days=days,
            preferred_times=tuple(times),
        )

    def phone(self, obj: dict[str, Any], path: str) -> str:
        """The number in E.164 (``+49305550000``), as the API stores it. The file names no
        country, so a number must carry its country code (``+`` or ``00``)."""
        written = self.r.string(obj, "phone", path, max_length=40)
        problems: dict[str, str] = {}
        phone = normalize_phone(written, problems)
        if problems:
            self.r.error(
                _join(path, "phone"),
                f"{_show(written)} is not a phone number with its country code "
                "(write it as +49 30 5550000 or 0049 30 5550000)",
            )
        return phone

    def _status(self, obj: dict[str, Any], path: str, allowed: tuple[str, ...], default: str) -> str:
        status = obj.get("status", default)
        if status not in allowed:
            self.r.error(_join(path, "status"), f"{_show(status)} is not one of {', '.join(allowed)}")
            return default
        return str(status)

    def appointment(self, value: Any, path: str) -> AppointmentSpec | None:
        r = self.r
        obj = r.obj(
            value,
            path,
            required=("patient", "appointment_type", "provider", "room", "start"),
            optional=("end", "status", "overbook", "cancelled_at", "cancel_reason", "note"),
        )
        if obj is None or any(
            key not in obj for key in ("patient", "appointment_type", "provider", "room", "start")
        ):
            return None
        before = len(r.errors)
        r.ref(obj["patient"], _join(path, "patient"), "patient", self.patients)
        kind_code = r.ref(
            obj["appointment_type"], _join(path, "appointment_type"), "appointment type", self.types
        )
        kind = self.type_specs.get(kind_code or "")
        r.ref(obj["provider"], _join(path, "provider"), "provider", self.providers)
        r.ref(obj["room"], _join(path, "room"), "room", self.rooms)
        start = r.datetime(obj["start"], _join(path, "start"))
        end = None
        if obj.get("end") is not None:
            end = r.datetime(obj["end"], _join(path, "end"))
        status = self._status(obj, path, STATUSES, "booked")
        overbook = r.boolean(obj, "overbook", path)
        cancelled_at = None
        if obj.get("cancelled_at") is not None:
            cancelled_at = r.datetime(obj["cancelled_at"], _join(path, "cancelled_at"))
        cancel_reason = r.string(obj, "cancel_reason", path, max_length=200)
        note = r.string(obj, "note", path, max_length=10_000)
        for key in ("cancelled_at", "cancel_reason"):
            if obj.get(key) and status != "cancelled":
                r.error(_join(path, key), f"only a cancelled appointment has one (status {status})")
        if len(r.errors) != before or kind is None or start is None:
            return None
        if end is None:
            end = start + dt.timedelta(minutes=kind.duration_minutes)
        elif end <= start:
            r.error(_join(path, "end"), f"{obj['end']} is not after start {obj['start']}")
            return None
        return AppointmentSpec(
            path=path,
            patient=obj["patient"],
            appointment_type=kind.code,
            provider=obj["provider"],
            room=obj["room"],
            start=start,
            end=end,
            blocked_start=start - dt.timedelta(minutes=kind.buffer_before_minutes),
            blocked_end=end + dt.timedelta(minutes=kind.buffer_after_minutes),
            status=status,
            overbook=overbook,
            seat=1 if overbook else 0,
            cancelled_at=cancelled_at,
            cancel_reason=cancel_reason,
            note=note,
        )

    def waitlist_entry(self, value: Any, path: str) -> WaitlistSpec | None:
        r = self.r
        obj = r.obj(
            value,
            path,
            required=("patient", "appointment_type", "earliest", "latest"),
            optional=("provider", "note", "status"),
        )
        if obj is None or any(
            key not in obj for key in ("patient", "appointment_type", "earliest", "latest")
        ):
            return None
        before = len(r.errors)
        r.ref(obj["patient"], _join(path, "patient"), "patient", self.patients)
        r.ref(obj["appointment_type"], _join(path, "appointment_type"), "appointment type", self.types)
        provider = obj.get("provider")
        if provider is not None:
            r.ref(provider, _join(path, "provider"), "provider", self.providers)
        earliest = r.date(obj["earliest"], _join(path, "earliest"))
        latest = r.date(obj["latest"], _join(path, "latest"))
        note = r.string(obj, "note", path, max_length=500)
        status = self._status(obj, path, WAITLIST_STATUSES, "open")
        if earliest and latest and latest < earliest:
            r.error(
                _join(path, "latest"),
                f"{latest.isoformat()} is before earliest {earliest.isoformat()}",
            )
        if len(r.errors) != before or earliest is None or latest is None:
            return None
        return WaitlistSpec(
            path=path,
            patient=obj["patient"],
            appointment_type=obj["appointment_type"],
            provider=provider,
            earliest=earliest,
            latest=latest,
            note=note,
            status=status,
        )


def parse_clinic_file(data: Any) -> ParseResult:
    """Validate a decoded clinic file: the file as dataclasses, or every problem found."""
    return _Parser().parse(data)

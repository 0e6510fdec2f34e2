"""FHIR search parameters: dates with prefixes, tokens, references, strings, paging.

Search errors are ``400`` OperationOutcomes (FHIR's answer to a search it cannot run);
parameters this server does not know are ignored, as FHIR servers do by default, and left
out of the ``self`` link so the client sees which ones were applied.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict

from clinic.api import FIRST_DATE, LAST_DATE
from clinic.errors import BadRequest
from fhir.door import base_url
from fhir.ids import APPOINTMENT_TYPE_SYSTEM, id_code
from scheduling.engine.calendar import local_midnight

T = TypeVar("T")
MAX_COUNT = 1000
MAX_OFFSET = 2**31 - 1
# Parameters every search understands besides its own.
COMMON = ("_count", "_offset", "_format", "clinic")


class Search:
    """One search request: its parameters (only ``known`` ones count), its page, and the
    Bundle that answers it."""

    def __init__(self, request: HttpRequest, known: Iterable[str], *, default_count: int = 50) -> None:
        self.request = request
        self.known = frozenset(known) | frozenset(COMMON)
        self.params = request.GET
        self.count = self._integer("_count", default_count, 0, MAX_COUNT)
        self.offset = self._integer("_offset", 0, 0, MAX_OFFSET)
        for name in self.params:
            base, _, modifier = name.partition(":")
            if base in self.known and modifier and modifier not in ("exact", "contains"):
                raise BadRequest(f"The modifier :{modifier} of {base} is not supported.")

    def _integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.params.get(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise BadRequest(f"{name} must be a whole number.") from None
        if not low <= value <= high:
            raise BadRequest(f"{name} must be between {low} and {high}.")
        return value

    def values(self, name: str) -> list[list[str]]:
        """Each occurrence of ``name`` (ANDed) as its comma-separated values (ORed)."""
        return [[part for part in _split(value)] for value in self.params.getlist(name)]

    def one(self, name: str) -> list[str] | None:
        """The values (ORed) of a parameter that may be given once; None when absent."""
        occurrences = self.values(name)
        if not occurrences:
            return None
        if len(occurrences) > 1:
            raise BadRequest(f"Give {name} once (several values separated by commas).")
        return occurrences[0]

    def string(self, name: str) -> tuple[list[str], str] | None:
        """A string parameter's values and how to match them: "startswith" (FHIR's
        default), "exact" or "contains"."""
        for modifier, how in (("", "startswith"), (":exact", "exact"), (":contains", "contains")):
            values = self.one(name + modifier)
            if values is not None:
                return values, how
        return None

    def bundle(self, entries: list[dict[str, Any]], total: int) -> dict[str, Any]:
        """The ``searchset`` Bundle of one page: ``entries`` are the page's resources."""
        base = base_url(self.request)
        links = [{"relation": "self", "url": self._page_url(self.offset)}]
        if self.count and self.offset + self.count < total:
            links.append({"relation": "next", "url": self._page_url(self.offset + self.count)})
        if self.offset > 0 and self.count:
            links.append({"relation": "previous", "url": self._page_url(max(0, self.offset - self.count))})
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "link": links,
            "entry": [
                {
                    "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
                    "resource": resource,
                    "search": {"mode": "match"},
                }
                for resource in entries
            ],
        }

    def _page_url(self, offset: int) -> str:
        query = QueryDict(mutable=True)
        for name, values in self.params.lists():
            if name.partition(":")[0] in self.known and name not in ("_count", "_offset"):
                query.setlist(name, values)
        query["_count"] = str(self.count)
        query["_offset"] = str(offset)
        return self.request.build_absolute_uri(f"{self.request.path}?{query.urlencode(safe='|:/,')}")

    def window(self, items: Sequence[T] | QuerySet[Any]) -> Any:
        """This page of ``items`` (a list, or a queryset: then one query for the page)."""
        return items[self.offset : self.offset + self.count]


def _split(value: str) -> list[str]:
    # A comma escaped as "\," belongs to the value.
    return [part.replace("\\,", ",") for part in re.split(r"(?<!\\),", value) if part != ""]


def token(value: str, system: str | None = None) -> str | None:
    """The code of a token value: ``code``, ``|code`` or ``system|code``; None when it
    names another system than ``system`` (then nothing matches)."""
    if "|" not in value:
        return value
    given, _, code = value.partition("|")
    if given and system is not None and given != system:
        return None
    return code


def type_code(value: str) -> str | None:
    """The appointment type a token names: its code (``consult``, ``system|consult``) or
    its HealthcareService id (where a code's ``_`` is a ``.``); None for another system."""
    code = token(value, APPOINTMENT_TYPE_SYSTEM)
    return code.replace(".", "_") if code else None


def reference_id(value: str, resource_type: str) -> str | None:
    """The id a reference parameter names, for ``resource_type``: ``Type/id``, a bare
    ``id`` or an absolute URL ending in ``Type/id``; None when it names another type."""
    parts = value.rstrip("/").split("/")
    if len(parts) == 1:
        return parts[0]
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    return None


def reference_code(value: str, resource_type: str) -> str | None:
    """The code of a reference to one of the objects named by code."""
    found = reference_id(value, resource_type)
    return id_code(found) if found else None


# --- Dates -------------------------------------------------------------------------------

_DATE_VALUE = re.compile(
    r"(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


@dataclass(frozen=True)
class Range:
    """Instants ``[after, before)``; an end that is None is open."""

    after: dt.datetime | None = None
    before: dt.datetime | None = None

    def narrowed(self, after: dt.datetime | None = None, before: dt.datetime | None = None) -> Range:
        return Range(
            after=max(filter(None, (self.after, after)), default=None),
            before=min(filter(None, (self.before, before)), default=None),
        )

    def holds(self, moment: dt.datetime) -> bool:
        return (self.after is None or moment >= self.after) and (self.before is None or moment < self.before)


def date_range(search: Search, name: str, tz: ZoneInfo) -> Range:
    """Every ``name`` value (``ge2027-03-08``, ``lt2027-03-10T12:00:00Z``, ...) as one range
    of instants. A value without an offset is the clinic's wall clock; a date stands for
    the whole day (``le`` includes it, ``gt`` starts after it). ``ne`` and ``ap`` are not
    supported, nor several values at once."""
    found = Range()
    for values in search.values(name):
        if len(values) != 1:
            raise BadRequest(f"{name}: give one date per parameter (repeat it for a range).")
        prefix, low, high = _date_value(values[0], tz, name)
        if prefix == "eq":
            found = found.narrowed(low, high)
        elif prefix in ("ge",):
            found = found.narrowed(after=low)
        elif prefix in ("gt", "sa"):
            found = found.narrowed(after=high)
        elif prefix in ("lt", "eb"):
            found = found.narrowed(before=low)
        elif prefix == "le":
            found = found.narrowed(before=high)
        else:
            raise BadRequest(f"{name}: the prefix {prefix} is not supported (use eq, ge, gt, le or lt).")
    return found


def _date_value(value: str, tz: ZoneInfo, name: str) -> tuple[str, dt.datetime, dt.datetime]:
    """A date search value as its prefix and the instants ``[low, high)`` it stands for."""
    match = _DATE_VALUE.fullmatch(value)
    if match is None:
        raise BadRequest(f"{name}: {value!r} is not a FHIR date or dateTime (e.g. ge2027-03-08).")
    parts = match.groupdict()
    prefix = parts["prefix"] or "eq"
    try:
        year = int(parts["year"])
        month, day = int(parts["month"] or 1), int(parts["day"] or 1)
        first = dt.date(year, month, day)
        if not FIRST_DATE <= first <= LAST_DATE:
            raise BadRequest(f"{name}: choose a date between {FIRST_DATE} and {LAST_DATE}.")
        if parts["hour"] is None:
            if parts["month"] is None:
                last = dt.date(year + 1, 1, 1)
            elif parts["day"] is None:
                last = dt.date(year + (month == 12), month % 12 + 1, 1)
            else:
                last = first + dt.timedelta(days=1)
            return prefix, local_midnight(first, tz), local_midnight(last, tz)
        zone: dt.tzinfo = tz
        if parts["zone"] == "Z":
            zone = dt.UTC
        elif parts["zone"]:
            sign = 1 if parts["zone"][0] == "+" else -1
            hours, minutes = int(parts["zone"][1:3]), int(parts["zone"][4:6])
            zone = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
        second = parts["second"]
        low = dt.datetime(
            year, month, day, int(parts["hour"]), int(parts["minute"]), int(second or 0), tzinfo=zone
        )
        step = dt.timedelta(seconds=1) if second is not None else dt.timedelta(minutes=1)
    except ValueError:
        raise BadRequest(f"{name}: {value!r} is not a real date or time.") from None
    return prefix, low, low + step

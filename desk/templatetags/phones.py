"""Phones as people read them: ``{{ patient.phone|phone }}`` shows ``+49305550000`` as
``+49 30 555 0000``. Numbers are stored in E.164; this only changes how one is shown."""

from __future__ import annotations

import re

from django import template

register = template.Library()

E164 = re.compile(r"\+([1-9][0-9]{5,14})")
# Country calling codes of one and two digits (ITU-T E.164 assignments); every other one
# has three. The codes form a prefix code, so the first match is the code.
ONE_DIGIT = {"1", "7"}
TWO_DIGITS = set(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
    "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98".split()
)


def country_code_length(digits: str) -> int:
    if digits[:1] in ONE_DIGIT:
        return 1
    return 2 if digits[:2] in TWO_DIGITS else 3


@register.filter
def phone(value: str | None) -> str:
    """``+<country code>`` then the national number in groups: the last four digits, and
    threes before them (a lone leading digit joins the next group). Area codes differ by
    country, so the groups are for reading, not a dialling plan. Anything that is not
    E.164 (a number stored before normalization) is shown as it is."""
    if not value:
        return ""
    match = E164.fullmatch(value)
    if match is None:
        return value
    digits = match.group(1)
    split = country_code_length(digits)
    country, national = digits[:split], digits[split:]
    groups = [national[-4:]] if len(national) > 4 else [national]
    rest = national[: -len(groups[0])]
    while rest:
        groups.insert(0, rest[-3:])
        rest = rest[:-3]
    if len(groups) > 1 and len(groups[0]) == 1:
        groups[:2] = [groups[0] + groups[1]]
    return " ".join([f"+{country}", *groups])

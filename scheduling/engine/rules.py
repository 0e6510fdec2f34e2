"""Overbooking rules: the most specific one wins."""

from __future__ import annotations

from collections.abc import Iterable

from scheduling.engine.types import OverbookingRule


def max_extra_seats(rules: Iterable[OverbookingRule], provider: str, appointment_type: str) -> int:
    """Extra seats allowed for this provider and type: the provider-and-type rule if one
    exists, else the provider's rule, else the clinic's global rule, else none (0)."""
    by_scope = {(rule.provider, rule.appointment_type): rule.max_extra for rule in rules}
    for scope in ((provider, appointment_type), (provider, None), (None, None)):
        if scope in by_scope:
            return by_scope[scope]
    return 0

"""Overbooking rules: the most specific one wins."""

from __future__ import annotations

from collections.abc import Iterable

from scheduling.engine.types import OverbookingRule


def deciding_rule(
    rules: Iterable[OverbookingRule], provider: str, appointment_type: str
) -> OverbookingRule | None:
    """The rule that decides for this provider and type: the provider-and-type rule if one
    exists, else the provider's rule, else the clinic's global rule, else none."""
    by_scope = {(rule.provider, rule.appointment_type): rule for rule in rules}
    for scope in ((provider, appointment_type), (provider, None), (None, None)):
        if scope in by_scope:
            return by_scope[scope]
    return None


def max_extra_seats(rules: Iterable[OverbookingRule], provider: str, appointment_type: str) -> int:
    """Extra seats allowed for this provider and type; no rule at all means none."""
    rule = deciding_rule(rules, provider, appointment_type)
    return rule.max_extra if rule else 0

"""django-q2's entry point: every minute, slots whose hold ran out go to their next round.

The schedule is created by ``migrate`` with the engine's other jobs
(``notifications/management/commands/setup_schedules.py``, ``JOBS``).
"""

from __future__ import annotations

from django.utils import timezone

from offers.services import offer_next_rounds


def next_rounds_job() -> str:
    run = offer_next_rounds(now=timezone.now())
    return f"offered {run.offered} slot(s) to their next round; ended {run.ended}; failed {run.failed}"

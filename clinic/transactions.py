"""The transaction a write service runs in.

A service is one durable transaction (``transaction.atomic(durable=True)``): it commits
when it returns, nothing its caller does can roll it back, and its after-commit work (the
outbox's delivery task) runs then. Two callers need their own write in that same
transaction: the API's ``Idempotency-Key``, whose stored answer must commit or roll back
with the change it answers, and an accepted waitlist offer (``offers.services``), whose
outcome must commit with the booking it made. They open the durable transaction
themselves, with ``hosting_services()``, and a ``@service_transaction`` service called
directly inside it joins it instead of opening one of its own. Anywhere else (inside any
other transaction) such a service refuses to run, exactly as a durable block does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from django.db import transaction
from django.db.transaction import Atomic

P = ParamSpec("P")
R = TypeVar("R")

# The durable block ``hosting_services()`` opened in this thread, if any.
_host: ContextVar[Atomic | None] = ContextVar("service_host", default=None)


@contextmanager
def hosting_services() -> Iterator[None]:
    """A durable transaction that services called directly inside it join: they commit or
    roll back with whatever else the caller writes in it."""
    host = transaction.atomic(durable=True)
    with host:
        token = _host.set(host)
        try:
            yield
        finally:
            _host.reset(token)


def service_transaction(service: Callable[P, R]) -> Callable[P, R]:
    """``@transaction.atomic(durable=True)``, except directly inside ``hosting_services()``,
    whose durable transaction the service then is part of."""

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        blocks = transaction.get_connection().atomic_blocks
        if blocks and blocks[-1] is _host.get():
            # No savepoint: a refusal rolls back the host's whole transaction, as it would
            # the service's own.
            with transaction.atomic(savepoint=False):
                return service(*args, **kwargs)
        with transaction.atomic(durable=True):
            return service(*args, **kwargs)

    return run

"""The clinic simulator (issue 12): a month of a clinic's life through the real services
and PostgreSQL, once per booking policy, on the same demand.

``demand`` draws the month from the seed; ``runner`` plays it for one policy on a scratch
clinic (``scratch``) with a simulated clock; ``accounting`` reads the result back from the
database; ``report`` renders the table, the JSON and the chart. ``simulate`` ties them
together; ``manage.py simulate`` is its door.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from django.db import DatabaseError, connection, connections
from django.test.utils import override_settings

from clinic.clinic_file import parse_clinic_file
from scheduling.simulation import demand as demand_module
from scheduling.simulation.accounting import account, read_rows
from scheduling.simulation.demand import Demand, generate
from scheduling.simulation.runner import PER_SESSION, POLICIES, Policy, PolicyRun, Progress
from scheduling.simulation.scratch import scratch_clinic

# What the simulator replaces with its own: the month starts empty, with its own patients,
# and overbooking only where the overbooking policy applies the recommendations.
REPLACED = ("patients", "appointments", "waitlist", "overbooking_rules")


class SimulationError(ValueError):
    """The input cannot be simulated (an invalid clinic file, a clinic with no hours)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


def simulate(
    data: dict[str, Any],
    *,
    days: int,
    seed: int,
    progress: Progress,
    policies: tuple[Policy, ...] = POLICIES,
    workers: int = 1,
) -> dict[str, Any]:
    """Simulate ``days`` working days of the clinic in ``data`` (a decoded clinic file)
    under each policy; returns the JSON report. Deterministic for a seed, whatever
    ``workers`` is: policies share nothing but the demand, so with ``workers`` > 1 they
    run side by side in forked processes, each with its own connection."""
    parsed = parse_clinic_file(data)
    if parsed.file is None:
        raise SimulationError("The clinic file has problems.", list(parsed.errors))
    demand = generate(parsed.file, days=days, seed=seed)
    if not demand.days or not demand.requests:
        raise SimulationError("The clinic has no working hours to simulate: no provider works any weekday.")
    base = {key: value for key, value in data.items() if key not in REPLACED}
    base["patients"] = demand.patients()
    job = _Job(demand, base, progress)
    if workers > 1 and len(policies) > 1:
        results = _in_processes(job, policies, workers)
    else:
        results = {policy.name: job.run(policy) for policy in policies}
    return {
        "simulation": describe(demand, parsed.file.clinic.code),
        "policies": {policy.name: results[policy.name] for policy in policies},
    }


class _Job:
    def __init__(self, demand: Demand, base: dict[str, Any], progress: Progress):
        self.demand, self.base, self.progress = demand, base, progress

    def run(self, policy: Policy) -> dict[str, Any]:
        """One policy's month on its own scratch clinic; its metrics."""
        started = time.monotonic()
        data = self.base | ({"appointments": self.demand.history()} if policy.overbook else {})
        # Events are recorded as skipped rather than queued for the hub: simulated
        # patients must never be messaged, whatever the environment configures.
        with override_settings(NOTIFICATION_HUB_URL=""), _fast_commits():
            with scratch_clinic(data, label=policy.name.replace("_", "-")) as clinic:
                ledger = PolicyRun(self.demand, policy, clinic, self.progress).run()
                result = account(self.demand, read_rows(self.demand, clinic), ledger)
        if result.mismatches:
            raise SimulationError(
                f"{policy.name}: the database and the simulator disagree.", result.mismatches
            )
        self.progress(f"{policy.name}: done in {time.monotonic() - started:.1f} s")
        return result.metrics


def _in_processes(job: _Job, policies: tuple[Policy, ...], workers: int) -> dict[str, Any]:
    """Run the policies in ``workers`` forked processes (policy i in process i mod
    workers). The parent's connection is closed first: a forked child must never share
    its socket. A SIGTERM or Ctrl-C in the parent is passed on, so each child removes its
    scratch clinic before it ends."""
    if connection.in_atomic_block:
        raise SimulationError("Several workers need their own connections; run outside a transaction.")
    connections.close_all()
    context = multiprocessing.get_context("fork")
    children = []
    for k in range(min(workers, len(policies))):
        receive, send = context.Pipe(duplex=False)
        mine = policies[k::workers]
        child = context.Process(target=_child, args=(job, mine, send), name=f"simulate-{k}")
        child.start()
        send.close()
        children.append((child, receive))
    results: dict[str, Any] = {}
    failures: list[str] = []
    problems: list[str] = []
    try:
        for child, receive in children:
            try:
                while True:
                    kind, name, payload, details = receive.recv()
                    if kind == "done":
                        break
                    if kind == "ok":
                        results[name] = payload
                    else:
                        failures.append(f"{name}: {payload}")
                        problems.extend(details)
            except EOFError:
                failures.append(f"{child.name} ended without a result (exit code {child.exitcode})")
            child.join()
    finally:
        for child, _ in children:
            if child.is_alive():
                os.kill(child.pid or 0, signal.SIGTERM)
                child.join()
    if failures:
        raise SimulationError("; ".join(failures), problems)
    return results


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through the scratch clinic's clean-up


def _child(job: _Job, policies: tuple[Policy, ...], send: Connection) -> None:
    # Ctrl-C reaches the whole process group; the parent passes it on as one SIGTERM, so a
    # second signal never cuts short a child's clean-up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    for policy in policies:
        try:
            send.send(("ok", policy.name, job.run(policy), []))
        except SimulationError as exc:
            send.send(("error", policy.name, str(exc), exc.problems))
            break
        except Exception as exc:
            send.send(("error", policy.name, f"{type(exc).__name__}: {exc}", []))
            break
    send.send(("done", "", None, []))
    send.close()
    connections.close_all()


def describe(demand: Demand, clinic_code: str) -> dict[str, Any]:
    d = demand_module
    return {
        "clinic": clinic_code,
        "seed": demand.seed,
        "days": len(demand.days),
        "first_day": demand.days[0].isoformat(),
        "last_day": demand.days[-1].isoformat(),
        # Simulated as well, not measured: the period's first and last days meet full demand.
        "margins": [demand.simulated[0].isoformat(), demand.simulated[-1].isoformat()],
        "requests": sum(1 for r in demand.requests if demand.in_period(r)),
        "requests_simulated": len(demand.requests),
        "assumptions": {
            "demand_ratio": d.DEMAND_RATIO,
            "lead_days": [1, d.MAX_LEAD_DAYS],
            "flex_working_days": [f for f, _ in d.FLEX],
            "offers_heard": d.OFFERS,
            "unmet_preference_accept": d.UNMET_ACCEPT,
            "joins_waitlist": d.WAITS,
            "cancel_share": d.CANCEL_SHARE,
            "cancel_lead_hours": list(d.CANCEL_LEAD_HOURS),
            "offer_accept": f"{d.OFFER_ACCEPT_MAX} * (1 - exp(-hours / {d.OFFER_ACCEPT_HOURS:g}))",
            "no_show_mean": d.NO_SHOW_MEAN,
            "history_days": d.HISTORY_DAYS,
        },
        "no_show_rates": {f"{p}/{t}": rate for (p, t), rate in demand.no_show_rates.items()},
    }


@contextmanager
def _fast_commits() -> Iterator[None]:
    """``synchronous_commit = off`` for this connection while the month runs: a commit no
    longer waits for the disk, which halves the cost of every booking. Losing the last
    commits in a crash is harmless here: the scratch clinic is thrown away anyway."""
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO DEFAULT")
        except DatabaseError:
            pass  # the connection is gone, and its setting with it


__all__ = ["PER_SESSION", "POLICIES", "Policy", "SimulationError", "simulate"]

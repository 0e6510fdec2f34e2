"""Delivering outbox rows to the notification hub.

One POST per event, the same ``event_id`` on every attempt (the hub de-duplicates on it),
in sequence order per appointment: an event waits while an earlier event of its
appointment is pending or failed. A failed event (the hub refused it, or the attempts ran
out) therefore holds back the later events of its appointment until someone retries it
from the admin; the retry sends it and then the ones behind it, in order. A retried
"booked" can never arrive after the "cancelled" that followed it.

An attempt holds no transaction and no lock while it waits for the hub: the event is
claimed in a short transaction (``FOR UPDATE SKIP LOCKED``, then ``claimed_until`` set),
posted with no transaction open, and its outcome recorded in another short transaction,
only if the claim still holds. While claimed, no other worker sends it or a later event of
its appointment; a worker that dies mid-attempt leaves the claim to run out
(``CLAIM_SECONDS``), and the event is claimed and sent again (same ``event_id``).

A failed attempt moves the row's ``next_attempt_at`` (exponential backoff with jitter).
A backoff shorter than the sweep's minute also schedules a one-off delivery at that
moment, so the first retries come after seconds; the every-minute sweep
(``sweep_outbox_job``, see ``setup_schedules``) picks up whatever else is due. The sweep
is the one mechanism for long backoffs and the safety net for delivery tasks that were
lost (a broker restart, a crash between commit and enqueue), and during a long hub outage
no ``Schedule`` rows pile up: each event schedules at most its few short retries, and a
one-off schedule is deleted once it has run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import enum
import functools
import json
import logging
import operator
import random
import re
from collections.abc import Iterable

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from notifications.models import UNSENT, OutboxEvent, OutboxStatus
from notifications.outbox import enqueue_delivery, schedule_delivery

logger = logging.getLogger(__name__)

# Seconds per attempt (notifications.md); a module constant so tests can shorten it.
HUB_TIMEOUT_SECONDS: float = 5.0
# How long a claimed event stays in one worker's hands: far longer than an attempt takes
# (the timeout bounds connecting and each read), short enough that an event whose worker
# died goes out again within a sweep or two.
CLAIM_SECONDS = 60.0
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 600.0
# With the base and cap above this rides out a hub outage of about half an hour before a
# row is marked failed and needs a person (the admin's "Retry selected failed events").
MAX_ATTEMPTS = 10
# Appointments one sweep works through; the rest wait for the next minute.
SWEEP_BATCH = 200
# How often the sweep runs (setup_schedules); a shorter backoff gets its own delivery.
SWEEP_SECONDS = 60.0
_ERROR_CHARS = 2000
# What the hub answers when retrying would not help (notifications.md).
FINAL_STATUS_CODES = frozenset({400, 401})
# An error code as a log may repeat it: one short word, never a sentence.
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"  # the appointment's next event is backing off
    BUSY = "busy"  # another worker is sending the appointment's next event
    BLOCKED = "blocked"  # an earlier event of the appointment failed: it waits for a retry


@dataclasses.dataclass
class SweepSummary:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}"

    def add(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            if outcome in (Outcome.SENT, Outcome.RETRYING, Outcome.FAILED, Outcome.SKIPPED):
                field = outcome.value
                setattr(self, field, getattr(self, field) + 1)


@dataclasses.dataclass(frozen=True)
class HubAnswer:
    status_code: int | None  # None: no HTTP answer at all (timeout, refused, ...)
    error: str  # kept in the row's last_error, never logged: the hub may echo the payload
    retry_after: float | None = None
    error_code: str = "-"  # what the logs say: the hub's error code, or why there was no answer

    @property
    def accepted(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """Worth another try: everything but the hub's final refusals.

        The hub's contract makes only ``400`` (a malformed event) and ``401`` (a wrong
        key) final. Anything else (unreachable, ``429``, ``5xx``, but also a ``404`` from
        a mistyped path or a proxy's ``403``) may be set right while the event waits, so
        it is retried until the attempts run out; a failed row can then be retried from
        the admin.
        """
        return self.status_code not in FINAL_STATUS_CODES


def deliver_event(event_pk: int) -> str:
    """Task: deliver this event, after the earlier events of its appointment.

    Idempotent: an event that is already sent, failed or in another worker's hands is
    left alone.
    """
    appointment_id = OutboxEvent.objects.filter(pk=event_pk).values_list("appointment_id", flat=True).first()
    if appointment_id is None:
        return f"event {event_pk} does not exist"
    outcomes = deliver_appointment_events(appointment_id, now=timezone.now())
    return ", ".join(outcomes) or "nothing pending"


def deliver_appointment_events(appointment_id: int, *, now: dt.datetime) -> list[Outcome]:
    """Deliver the appointment's pending events that are due at ``now``, in sequence order.

    Stops at the first event that cannot go now (backing off, failed, or in another
    worker's hands): every later event of the appointment waits for it.

    Precondition: no transaction is open, so that each claim commits before its POST.
    """
    outcomes: list[Outcome] = []
    while True:
        claimed = _claim_next(appointment_id, now=now)
        if claimed is None:
            return outcomes
        outcome = _record(claimed, post_event(claimed)) if isinstance(claimed, OutboxEvent) else claimed
        outcomes.append(outcome)
        if outcome not in (Outcome.SENT, Outcome.SKIPPED):
            return outcomes


def _claim_next(appointment_id: int, *, now: dt.datetime) -> OutboxEvent | Outcome | None:
    """Claim the appointment's next event if it may go now, in a short transaction: the
    event, claimed; or why nothing may go (``None``: nothing is pending)."""
    # The claim's lease runs on the clock, whatever ``now`` the caller judges due-ness by:
    # it is about how long a worker may take.
    clock = timezone.now()
    with transaction.atomic():
        # SKIP LOCKED: a worker claiming the same event this instant has it; this one
        # moves on rather than wait.
        event = (
            OutboxEvent.objects.heads()
            .due(now)
            .unclaimed(clock)
            .filter(appointment_id=appointment_id)
            .select_for_update(skip_locked=True)
            .first()
        )
        if event is None:
            return _why_not(appointment_id, now=now, clock=clock)
        if not settings.NOTIFICATION_HUB_URL:
            event.status = OutboxStatus.SKIPPED
            event.last_error = "NOTIFICATION_HUB_URL is not set."
            event.save(update_fields=["status", "last_error"])
            return Outcome.SKIPPED
        event.claimed_until = clock + dt.timedelta(seconds=CLAIM_SECONDS)
        event.save(update_fields=["claimed_until"])
    return event


def _why_not(appointment_id: int, *, now: dt.datetime, clock: dt.datetime) -> Outcome | None:
    head = (
        OutboxEvent.objects.filter(appointment_id=appointment_id, status__in=UNSENT)
        .order_by("sequence")
        .first()
    )
    if head is None:
        return None
    if head.status == OutboxStatus.FAILED:
        return Outcome.BLOCKED
    if head.next_attempt_at > now and not (head.claimed_until and head.claimed_until > clock):
        return Outcome.WAITING
    return Outcome.BUSY  # claimed, or being claimed by another worker this very moment


def post_event(event: OutboxEvent) -> HubAnswer:
    url = settings.NOTIFICATION_HUB_URL.rstrip("/") + "/api/events"
    body = {"event_type": event.event_type, "event_id": event.event_id, "payload": event.payload}
    try:
        response = requests.post(
            url,
            json=body,
            headers={"X-API-Key": settings.NOTIFICATION_HUB_API_KEY},
            timeout=HUB_TIMEOUT_SECONDS,
            # A redirect would turn the POST into a GET; a moved hub is a configuration
            # error to fix, and shows up as a 3xx in the row's last status.
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        return HubAnswer(None, f"timeout after {HUB_TIMEOUT_SECONDS} s: {exc}", error_code="timeout")
    except requests.RequestException as exc:
        return HubAnswer(None, f"{type(exc).__name__}: {exc}", error_code=type(exc).__name__)
    return HubAnswer(
        response.status_code,
        "" if response.ok else response.text[:_ERROR_CHARS],
        retry_after_seconds(response.headers.get("Retry-After")),
        "-" if response.ok else hub_error_code(response.text),
    )


def hub_error_code(body: str) -> str:
    """The error code in the hub's answer, ``{"error": {"code": ...}}``, ``{"error": "..."}``
    or ``{"code": ...}``; ``-`` when there is none. Only a code-like word: whatever else the
    body says may quote the event's payload, a patient's name or address among it."""
    try:
        answer = json.loads(body)
    except ValueError:
        return "-"
    if not isinstance(answer, dict):
        return "-"
    error = answer.get("error", answer.get("code"))
    code = error.get("code") if isinstance(error, dict) else error
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else "-"


def _record(event: OutboxEvent, answer: HubAnswer) -> Outcome:
    """Store the attempt's outcome, in a short transaction, if this worker's claim still
    holds; the claim is released with it."""
    answered_at = timezone.now()
    event.attempts += 1
    event.last_status_code = answer.status_code
    event.last_error = answer.error[:_ERROR_CHARS]
    delay: float | None = None
    if answer.accepted:
        event.status = OutboxStatus.SENT
        event.sent_at = answered_at
        outcome = Outcome.SENT
    elif not answer.retryable or event.attempts >= MAX_ATTEMPTS:
        event.status = OutboxStatus.FAILED
        outcome = Outcome.FAILED
    else:
        delay = retry_delay_seconds(event.attempts, answer.retry_after)
        event.next_attempt_at = answered_at + dt.timedelta(seconds=delay)
        outcome = Outcome.RETRYING
    with transaction.atomic():
        recorded = OutboxEvent.objects.filter(
            pk=event.pk, status=OutboxStatus.PENDING, claimed_until=event.claimed_until
        ).update(
            attempts=event.attempts,
            last_status_code=event.last_status_code,
            last_error=event.last_error,
            status=event.status,
            sent_at=event.sent_at,
            next_attempt_at=event.next_attempt_at,
            claimed_until=None,
        )
        if recorded and delay is not None and delay < SWEEP_SECONDS:
            transaction.on_commit(
                functools.partial(schedule_delivery, event.pk, event.next_attempt_at), robust=True
            )
    event.claimed_until = None
    if not recorded:
        # The attempt outlived its claim and another worker has taken the event over:
        # that worker's attempt counts, this one's answer is dropped.
        logger.warning("The claim on %s ran out before the hub answered", event.event_id)
        return Outcome.BUSY
    _log(event, answer, outcome, delay)
    return outcome


def _log(event: OutboxEvent, answer: HubAnswer, outcome: Outcome, delay: float | None) -> None:
    if outcome == Outcome.FAILED and not answer.retryable:
        logger.error(
            "Hub refused %s with %s (%s), not retrying; later events of appointment %s wait"
            " until it is retried from the admin",
            event.event_id,
            answer.status_code,
            answer.error_code,
            event.appointment_id,
        )
    elif outcome == Outcome.FAILED:
        logger.error(
            "Giving up on %s after %d attempts: %s (%s); later events of appointment %s wait"
            " until it is retried from the admin",
            event.event_id,
            event.attempts,
            answer.status_code or "no answer",
            answer.error_code,
            event.appointment_id,
        )
    elif outcome == Outcome.RETRYING:
        logger.warning(
            "Delivering %s failed (attempt %d, %s, %s), retrying in %.0f s",
            event.event_id,
            event.attempts,
            answer.status_code or "no answer",
            answer.error_code,
            delay,
        )


def retry_delay_seconds(attempts: int, retry_after: float | None = None) -> float:
    """How long to wait after the ``attempts``-th failed attempt.

    The hub's ``Retry-After`` wins when it gave one. Otherwise exponential backoff with
    "equal jitter" (half fixed, half random), so events that failed together during an
    outage do not all come back in the same second.
    """
    if retry_after is not None:
        return min(retry_after, BACKOFF_CAP_SECONDS)
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delay-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def sweep_outbox(now: dt.datetime, *, batch: int = SWEEP_BATCH) -> SweepSummary:
    """Deliver every pending event whose ``next_attempt_at`` has passed.

    This is the retry mechanism and the safety net for lost delivery tasks. It stops at
    the first attempt that has to be retried: the hub is down or overloaded, and
    hammering it with the rest (each possibly waiting out the full timeout) would only
    keep this task running past the next sweep.
    """
    summary = SweepSummary()
    # Only each appointment's next event: the ones behind it go after it, in the same run.
    due = OutboxEvent.objects.heads().due(now).unclaimed(timezone.now()).order_by("next_attempt_at", "pk")
    appointment_ids = list(dict.fromkeys(due.values_list("appointment_id", flat=True)[:batch]))
    for appointment_id in appointment_ids:
        outcomes = deliver_appointment_events(appointment_id, now=now)
        summary.add(outcomes)
        if Outcome.RETRYING in outcomes:
            break
    return summary


def sweep_outbox_job() -> str:
    """Scheduled every minute (``manage.py setup_schedules``)."""
    return str(sweep_outbox(timezone.now()))


def retry_failed(queryset: QuerySet[OutboxEvent]) -> int:
    """Put the failed events among ``queryset`` back in the queue with a fresh set of
    attempts, each with the failed events before it of its appointment (it cannot go
    before them); returns how many.

    Delivery is enqueued after commit, one task per appointment: the task delivers all of
    the appointment's pending events, in order, the ones that waited behind the failed
    ones included.
    """
    with transaction.atomic():
        upto = dict(
            OutboxEvent.objects.filter(pk__in=queryset.values("pk"), status=OutboxStatus.FAILED)
            .order_by()
            .values("appointment_id")
            .annotate(last=Max("sequence"))
            .values_list("appointment_id", "last")
        )
        if not upto:
            return 0
        up_to_the_selected = functools.reduce(
            operator.or_,
            (Q(appointment_id=appointment_id, sequence__lte=last) for appointment_id, last in upto.items()),
        )
        rows = list(
            OutboxEvent.objects.select_for_update()
            .filter(up_to_the_selected, status=OutboxStatus.FAILED)
            .values_list("pk", "appointment_id")
        )
        OutboxEvent.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), claimed_until=None
        )
        one_per_appointment = {appointment_id: pk for pk, appointment_id in rows}
        for pk in one_per_appointment.values():
            transaction.on_commit(functools.partial(enqueue_delivery, pk), robust=True)
    return len(rows)

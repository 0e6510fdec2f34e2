"""Delivering outbox rows to the notification hub.

One POST per event, the same ``event_id`` on every attempt (the hub de-duplicates on it),
in sequence order per appointment: an event waits while an earlier event of its
appointment is still pending.

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
import random
import re
from collections.abc import Iterable

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from notifications.models import OutboxEvent, OutboxStatus
from notifications.outbox import enqueue_delivery, schedule_delivery

logger = logging.getLogger(__name__)

# Seconds per attempt (notifications.md); a module constant so tests can shorten it.
HUB_TIMEOUT_SECONDS: float = 5.0
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
    WAITING = "waiting"  # the appointment's head event is backing off
    BUSY = "busy"  # another worker holds the row


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
    """Task: deliver this event, after any earlier pending events of its appointment.

    Idempotent: an event that is already sent, failed or in another worker's hands is
    left alone.
    """
    appointment_id = OutboxEvent.objects.filter(pk=event_pk).values_list("appointment_id", flat=True).first()
    if appointment_id is None:
        return f"event {event_pk} does not exist"
    outcomes = deliver_appointment_events(appointment_id, now=timezone.now())
    return ", ".join(outcomes) or "nothing pending"


def deliver_appointment_events(appointment_id: int, *, now: dt.datetime) -> list[Outcome]:
    """Deliver the appointment's pending events that are due, in sequence order.

    Stops at the first event that cannot go now (backing off, or being sent by another
    worker): every later event of the appointment waits for it.
    """
    outcomes: list[Outcome] = []
    while True:
        head_pk = (
            OutboxEvent.objects.pending()
            .filter(appointment_id=appointment_id)
            .order_by("sequence")
            .values_list("pk", flat=True)
            .first()
        )
        if head_pk is None:
            return outcomes
        outcome = _deliver_one(head_pk, now=now)
        outcomes.append(outcome)
        if outcome not in (Outcome.SENT, Outcome.FAILED, Outcome.SKIPPED):
            return outcomes


def _deliver_one(event_pk: int, *, now: dt.datetime) -> Outcome:
    with transaction.atomic():
        # The row lock is held across the POST: a second worker skips the row instead of
        # sending it a second time. skip_locked, not a wait: that worker has better
        # things to do than queue behind a possibly hanging request.
        event = (
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_pk, status=OutboxStatus.PENDING)
            .first()
        )
        if event is None:
            return Outcome.BUSY
        if event.next_attempt_at > now:
            return Outcome.WAITING
        if not settings.NOTIFICATION_HUB_URL:
            event.status = OutboxStatus.SKIPPED
            event.last_error = "NOTIFICATION_HUB_URL is not set."
            event.save(update_fields=["status", "last_error"])
            return Outcome.SKIPPED
        return _apply(event, post_event(event))


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


def _apply(event: OutboxEvent, answer: HubAnswer) -> Outcome:
    answered_at = timezone.now()
    event.attempts += 1
    event.last_status_code = answer.status_code
    event.last_error = answer.error[:_ERROR_CHARS]
    if answer.accepted:
        event.status = OutboxStatus.SENT
        event.sent_at = answered_at
        outcome = Outcome.SENT
    elif not answer.retryable:
        event.status = OutboxStatus.FAILED
        logger.error(
            "Hub refused %s with %s (%s), not retrying",
            event.event_id,
            answer.status_code,
            answer.error_code,
        )
        outcome = Outcome.FAILED
    elif event.attempts >= MAX_ATTEMPTS:
        event.status = OutboxStatus.FAILED
        logger.error(
            "Giving up on %s after %d attempts: %s (%s)",
            event.event_id,
            event.attempts,
            answer.status_code or "no answer",
            answer.error_code,
        )
        outcome = Outcome.FAILED
    else:
        delay = retry_delay_seconds(event.attempts, answer.retry_after)
        event.next_attempt_at = answered_at + dt.timedelta(seconds=delay)
        if delay < SWEEP_SECONDS:
            transaction.on_commit(
                functools.partial(schedule_delivery, event.pk, event.next_attempt_at), robust=True
            )
        logger.warning(
            "Delivering %s failed (attempt %d, %s, %s), retrying in %.0f s",
            event.event_id,
            event.attempts,
            answer.status_code or "no answer",
            answer.error_code,
            delay,
        )
        outcome = Outcome.RETRYING
    event.save(
        update_fields=[
            "attempts",
            "last_status_code",
            "last_error",
            "status",
            "sent_at",
            "next_attempt_at",
        ]
    )
    return outcome


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
    due = OutboxEvent.objects.due(now).order_by("next_attempt_at", "pk")
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
    attempts; returns how many.

    Delivery is enqueued after commit, one task per appointment: the task delivers all of
    the appointment's pending events, in order.
    """
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update()
            .filter(pk__in=queryset.values("pk"), status=OutboxStatus.FAILED)
            .values_list("pk", "appointment_id")
        )
        OutboxEvent.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        one_per_appointment = {appointment_id: pk for pk, appointment_id in rows}
        for pk in one_per_appointment.values():
            transaction.on_commit(functools.partial(enqueue_delivery, pk), robust=True)
    return len(rows)

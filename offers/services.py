"""Automatic waitlist offers: offer a freed slot, accept an offer, offer the next round.

When a cancellation (or a reschedule) frees time, the best waitlisted backfill candidates
(``scheduling.services.backfill_candidates``, each already checked by the engine) are
offered it at once, ``OFFERS_PER_ROUND`` at a time, each through the hub
(``waitlist.slot_available``) with a personal accept link. The first to accept within the
clinic's hold (``Clinic.offer_hold_minutes``) books it through ``appointment_book``, so the
engine's check and the database's exclusion constraints decide as for any booking; the others
then meet "already taken". When the hold runs out with nobody accepting, the every-minute job
offers the next candidates; when nobody is left, or the time can no longer be booked, the
offers end.

Every service takes ``now``, so tests drive the clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from clinic.errors import DomainError, NotFound, SlotTaken, SlotUnavailable
from clinic.models import Clinic
from clinic.transactions import hosting_services
from notifications.models import EventType
from notifications.outbox import PAYLOAD_RELATIONS, record_event
from offers.models import FreedSlot, FreedSlotStatus, OfferStatus, SlotOffer, hash_token
from scheduling import selectors
from scheduling.engine.calendar import local_date, local_iso
from scheduling.models import Appointment, WaitlistEntry, WaitlistStatus
from scheduling.services import Backfill, BackfillCandidate, appointment_book, backfill_candidates

logger = logging.getLogger(__name__)

# How many patients are offered a slot at once. More fill it sooner but leave more of them
# with "already taken"; three keeps that to two disappointed patients at most.
OFFERS_PER_ROUND = 3
# 32 random bytes: unguessable, so the link needs no login.
TOKEN_BYTES = 32
# A token is 43 characters; anything much longer is not one of ours (no database look-up).
TOKEN_MAX_LENGTH = 100


class OfferTaken(DomainError):
    """Someone else has the slot now (another offer, or a booking at the desk)."""

    status, code = 409, "slot_taken"


class OfferClosed(DomainError):
    """The offer cannot be accepted any more: ``details.state`` says why."""

    status, code = 410, "offer_closed"


# --- Offering -----------------------------------------------------------------------------


def on_slot_freed(*, freed: Appointment, candidates: Backfill, now: dt.datetime, **kwargs: object) -> None:
    """``scheduling.signals.slot_freed``'s receiver: runs in the transaction that freed the time."""
    offer_freed_slot(freed=freed, candidates=candidates, now=now)


def offer_freed_slot(
    *, freed: Appointment, candidates: Sequence[BackfillCandidate], now: dt.datetime
) -> FreedSlot | None:
    """Offer ``freed``'s time to the first ``OFFERS_PER_ROUND`` waitlisted ``candidates``.

    Precondition: inside the transaction that cancelled ``freed``, which holds its row with
    ``PAYLOAD_RELATIONS`` loaded. Only waitlisted patients get offers: they asked to be told;
    patients who merely cancelled recently stay for the desk to call. None when nobody waits.
    """
    chosen = _waitlisted(candidates, offered=set())
    if not chosen:
        return None
    slot = FreedSlot.objects.create(
        clinic_id=freed.clinic_id,
        freed=freed,
        overbook=chosen[0].overbook,
        round=1,
        round_ends_at=now + _hold(freed.clinic),
        created_at=now,
    )
    _offer_round(slot, freed, chosen, now)
    return slot


def _waitlisted(candidates: Sequence[BackfillCandidate], *, offered: set[int]) -> list[BackfillCandidate]:
    fresh = [c for c in candidates if c.source == "waitlist" and c.patient.pk not in offered]
    return fresh[:OFFERS_PER_ROUND]


def _hold(clinic: Clinic) -> dt.timedelta:
    # At least a minute, whatever was written around the form's validation: a hold of zero
    # would offer a slot nobody can take, and fail the offer's own check constraint.
    return dt.timedelta(minutes=max(1, clinic.offer_hold_minutes))


def accept_url(token: str) -> str:
    """The absolute link a patient follows. The token rides in the query string, which the
    access logs leave out (README, "Logs"), so it is never written to a log line."""
    return f"{settings.PUBLIC_BASE_URL}{reverse('offers:accept')}?token={token}"


def _offer_round(
    slot: FreedSlot, freed: Appointment, chosen: list[BackfillCandidate], now: dt.datetime
) -> list[SlotOffer]:
    """One offer and one ``waitlist.slot_available`` event (with the accept link) per
    patient, all holding until the round ends. Precondition: ``freed`` locked, with
    ``PAYLOAD_RELATIONS`` loaded."""
    entries = _waitlist_entries(freed, [c.patient.pk for c in chosen])
    offers = []
    for candidate in chosen:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        offers.append(
            SlotOffer.objects.create(
                slot=slot,
                patient=candidate.patient,
                waitlist_entry=entries.get(candidate.patient.pk),
                round=slot.round,
                rank=candidate.rank,
                offered_at=now,
                expires_at=slot.round_ends_at,
                token_hash=hash_token(token),
            )
        )
        record_event(
            event_type=EventType.WAITLIST_SLOT_AVAILABLE,
            appointment=freed,
            patient=candidate.patient,
            locked=True,
            offer={
                "accept_url": accept_url(token),
                "expires_at": local_iso(slot.round_ends_at, freed.clinic.tz),
            },
        )
    return offers


def _waitlist_entries(freed: Appointment, patient_ids: list[int]) -> dict[int, WaitlistEntry]:
    """Each patient's open entry that the freed time satisfies (the oldest, as the backfill
    ranks them): when it closes, their offer no longer stands."""
    day = local_date(freed.start, freed.clinic.tz)
    entries = (
        WaitlistEntry.objects.open()
        .filter(
            clinic_id=freed.clinic_id,
            appointment_type_id=freed.appointment_type_id,
            patient_id__in=patient_ids,
            earliest__lte=day,
            latest__gte=day,
        )
        .order_by("-created_at", "-pk")
    )
    # Oldest last, so it is the one kept.
    return {e.patient_id: e for e in entries if e.provider_id in (None, freed.provider_id)}


# --- The next round -----------------------------------------------------------------------


@dataclass(frozen=True)
class RoundsRun:
    offered: int  # slots offered to a further round
    ended: int  # slots whose offers ended
    failed: int  # slots that raised (logged; tried again next minute)


def offer_next_rounds(*, now: dt.datetime) -> RoundsRun:
    """Every open slot whose round has run out: its next round, or its end. One transaction
    per slot, so one slot's failure holds up no other."""
    due = list(
        FreedSlot.objects.filter(status=FreedSlotStatus.OPEN, round_ends_at__lte=now)
        .order_by("round_ends_at", "pk")
        .values_list("pk", flat=True)
    )
    offered = ended = failed = 0
    for pk in due:
        try:
            slot = offer_next_round(slot_id=pk, now=now)
        except Exception:
            failed += 1
            logger.exception("Could not offer freed slot %s to its next round", pk)
            continue
        if slot is not None and slot.status == FreedSlotStatus.OPEN:
            offered += 1
        elif slot is not None:
            ended += 1
    return RoundsRun(offered=offered, ended=ended, failed=failed)


@transaction.atomic(durable=True)
def offer_next_round(*, slot_id: int, now: dt.datetime) -> FreedSlot | None:
    """If the slot's round has run out: its offers expire, and the next waitlisted
    candidates (not offered it before) are offered it, or, when there are none or the time
    can no longer be booked, the offers end. Idempotent: a slot still in its round, taken
    or ended is left as it is."""
    slot = FreedSlot.objects.select_for_update().filter(pk=slot_id).first()
    if slot is None or slot.status != FreedSlotStatus.OPEN or now < slot.round_ends_at:
        return slot
    freed = (
        Appointment.objects.select_related(*PAYLOAD_RELATIONS)
        .select_for_update(of=("self",))
        .get(pk=slot.freed_id)
    )
    slot.offers.outstanding().update(status=OfferStatus.EXPIRED, closed_at=now)
    candidates = backfill_candidates(freed=freed, now=now)
    offered = set(slot.offers.values_list("patient_id", flat=True))
    chosen = _waitlisted(candidates, offered=offered)
    if not chosen:
        reason = candidates.note or "Everyone waiting who fits this time has been offered it."
        _end(slot, FreedSlotStatus.ENDED, now, reason=reason)
        return slot
    slot.round += 1
    slot.round_ends_at = now + _hold(freed.clinic)
    slot.overbook = chosen[0].overbook
    slot.save(update_fields=["round", "round_ends_at", "overbook"])
    _offer_round(slot, freed, chosen, now)
    return slot


def _end(
    slot: FreedSlot,
    status: str,
    now: dt.datetime,
    *,
    reason: str,
    booked: Appointment | None = None,
    others: str = OfferStatus.WITHDRAWN,
) -> None:
    """Close the slot; its outstanding offers become ``others``."""
    slot.status = status
    slot.closed_at = now
    slot.end_reason = reason[:300]
    slot.booked = booked
    slot.save(update_fields=["status", "closed_at", "end_reason", "booked"])
    slot.offers.outstanding().update(status=others, closed_at=now)


# --- The patient's page: what the link shows, and accepting -------------------------------


@dataclass(frozen=True)
class OfferPage:
    """What the public page shows: the offer's ``state`` and the slot, nothing about the patient.

    ``state``: ``open`` (the button), ``accepted`` (just booked), ``used``, ``taken``,
    ``expired``, ``withdrawn`` or ``unavailable``.
    """

    state: str
    clinic: str
    provider: str
    appointment_type: str
    start: dt.datetime  # in the clinic's zone
    end: dt.datetime
    expires_at: dt.datetime


def _find(token: str) -> SlotOffer:
    """The offer ``token`` opens, or ``NotFound`` (unknown, tampered, malformed alike)."""
    offer = None
    if token and len(token) <= TOKEN_MAX_LENGTH:
        offer = (
            SlotOffer.objects.select_related(
                "slot",
                "slot__freed__clinic",
                "slot__freed__provider",
                "slot__freed__room",
                "slot__freed__appointment_type",
                "waitlist_entry",
            )
            .filter(token_hash=hash_token(token))
            .first()
        )
    if offer is None:
        raise NotFound("This link is not valid.")
    return offer


def _page(offer: SlotOffer, state: str) -> OfferPage:
    freed = offer.slot.freed
    tz = freed.clinic.tz
    return OfferPage(
        state=state,
        clinic=freed.clinic.name,
        provider=freed.provider.name,
        appointment_type=freed.appointment_type.name,
        start=freed.start.astimezone(tz),
        end=freed.end.astimezone(tz),
        expires_at=offer.expires_at.astimezone(tz),
    )


def _state(offer: SlotOffer, now: dt.datetime) -> str:
    """Why the offer can no longer be accepted, from what is stored, or ``open``."""
    if offer.status == OfferStatus.ACCEPTED:
        return "used"
    if offer.status == OfferStatus.TAKEN or offer.slot.status == FreedSlotStatus.TAKEN:
        return "taken"
    if offer.status == OfferStatus.EXPIRED or now >= offer.expires_at:
        return "expired"
    if offer.status == OfferStatus.WITHDRAWN or offer.slot.status == FreedSlotStatus.ENDED:
        return "withdrawn"
    if offer.waitlist_entry is not None and offer.waitlist_entry.status != WaitlistStatus.OPEN:
        return "withdrawn"  # the patient no longer waits (booked elsewhere, or closed by the desk)
    return "open"


def offer_page(*, token: str, now: dt.datetime) -> OfferPage:
    """What the link shows now; books nothing. An open offer whose time the desk booked
    meanwhile already reads "taken" (the engine's check, as the booking would run it)."""
    offer = _find(token)
    state = _state(offer, now)
    if state == "open":
        freed = offer.slot.freed
        verdict = selectors.slot_check(
            clinic=freed.clinic,
            appointment_type=freed.appointment_type,
            provider=freed.provider,
            room=freed.room,
            patient=None,
            start=freed.start,
            overbook=offer.slot.overbook,
            now=now,
        )
        if verdict.conflict:
            state = "taken"
        elif not verdict.ok and verdict.reason != "overbooking_not_needed":
            state = "unavailable"
    return _page(offer, state)


def accept_offer(*, token: str, now: dt.datetime) -> OfferPage:
    """Book the offered slot for the offer's patient, once.

    Concurrent acceptances of one slot queue on the slot's row lock: the first books, the
    others then find it taken. The booking is ``appointment_book``'s, in the same
    transaction as the offer's outcome (``hosting_services``), so the engine's check and the
    exclusion constraints decide, the history and the ``appointment.booked`` event are
    written, and the patient's waitlist entry closes. A refusal raises ``NotFound``,
    ``OfferTaken`` or ``OfferClosed`` with ``details.page``; nothing is booked then.
    """
    found = _find(token)
    overbook = found.slot.overbook
    while True:
        try:
            return _accept(found.pk, found.slot_id, now, overbook=overbook)
        except SlotUnavailable as exc:
            if overbook and exc.details.get("reason") == "overbooking_not_needed":
                overbook = False  # the regular seat came free meanwhile: take that instead
                continue
            _refused(found.pk, now, taken=False)
            raise OfferClosed("This time can no longer be booked.", page=_page(found, "unavailable")) from exc
        except SlotTaken as exc:
            taken = exc.details.get("conflict") in ("provider", "room")
            _refused(found.pk, now, taken=taken)
            if taken:
                raise OfferTaken(
                    "Someone else has just taken this time.", page=_page(found, "taken")
                ) from exc
            raise OfferClosed(
                "This time can no longer be booked for you.", page=_page(found, "unavailable")
            ) from exc


def _accept(offer_id: int, slot_id: int, now: dt.datetime, *, overbook: bool) -> OfferPage:
    with hosting_services():
        # The slot first, always: concurrent acceptances queue here (one lock order).
        slot = FreedSlot.objects.select_for_update().get(pk=slot_id)
        offer = (
            SlotOffer.objects.select_for_update(of=("self",))
            .select_related(
                "patient",
                "waitlist_entry",
                "slot__freed__clinic",
                "slot__freed__provider",
                "slot__freed__room",
                "slot__freed__appointment_type",
            )
            .get(pk=offer_id)
        )
        # Read after the slot's lock was granted, so it sees what the acceptance before it did.
        state = _state(offer, now)
        if state == "taken":
            raise OfferTaken("Someone else has already taken this time.", page=_page(offer, state))
        if state != "open":
            raise OfferClosed(_CLOSED_MESSAGES[state], state=state, page=_page(offer, state))
        freed = offer.slot.freed
        appointment = appointment_book(
            clinic=freed.clinic,
            patient=offer.patient,
            appointment_type=freed.appointment_type,
            provider=freed.provider,
            room=freed.room,
            start=freed.start,
            overbook=overbook,
            now=now,
            backfill_of=freed,
        )
        offer.status = OfferStatus.ACCEPTED
        offer.used_at = offer.closed_at = now
        offer.appointment = appointment
        offer.save(update_fields=["status", "used_at", "closed_at", "appointment"])
        _end(
            slot,
            FreedSlotStatus.TAKEN,
            now,
            reason="Accepted through an offer.",
            booked=appointment,
            others=OfferStatus.TAKEN,
        )
        # appointment_book closed the patient's waitlist entries for this type: their other
        # offers of that type no longer stand.
        SlotOffer.objects.outstanding().filter(
            patient=offer.patient, slot__freed__appointment_type_id=freed.appointment_type_id
        ).update(status=OfferStatus.WITHDRAWN, closed_at=now)
        return _page(offer, "accepted")


_CLOSED_MESSAGES = {
    "used": "This link has already been used.",
    "expired": "This offer has expired.",
    "withdrawn": "This offer has been withdrawn.",
    "unavailable": "This time can no longer be booked.",
}


@transaction.atomic(durable=True)
def _refused(offer_id: int, now: dt.datetime, *, taken: bool) -> None:
    """The booking was refused: the offer is spent. When someone else holds the time (the
    desk booked it meanwhile), the whole slot is: every outstanding offer reads "taken"."""
    slot = FreedSlot.objects.select_for_update(of=("self",)).get(offers__pk=offer_id)
    if taken and slot.status == FreedSlotStatus.OPEN:
        _end(
            slot,
            FreedSlotStatus.ENDED,
            now,
            reason="Booked meanwhile by other means.",
            others=OfferStatus.TAKEN,
        )
        return
    SlotOffer.objects.outstanding().filter(pk=offer_id).update(
        status=OfferStatus.TAKEN if taken else OfferStatus.WITHDRAWN, closed_at=now
    )

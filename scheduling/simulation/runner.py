"""One policy's month on a scratch clinic: the real services, a simulated clock.

Events (a patient's call, a cancellation, the end of a visit day) are taken in time order
from one heap; each passes its moment as ``now`` to the selectors and services, so no
one waits and nothing depends on the real date. Bookings, cancellations, the waitlist,
backfill bookings and no-shows go through ``scheduling.services`` exactly as the front
desk's do (each its own transaction, its history and outbox rows with it). One shortcut:
the visits patients attend are closed as ``completed`` in one update per day (the
services close a visit in two calls, check-in and completion, which would cost a
third of the run for a status nothing else reads).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from clinic.errors import SlotTaken, SlotUnavailable
from clinic.models import AppointmentType, Clinic, Patient, Provider, Room
from scheduling import overbooking, selectors, services
from scheduling.engine import Slot
from scheduling.models import Appointment, AppointmentHistory, AppointmentStatus
from scheduling.simulation.demand import OFFERS, UNMET_ACCEPT, Demand, Request, accept_offer, draw

Progress = Callable[[str], None]
CANCEL_REASON = "simulated cancellation"
DAY_END = dt.time(23, 59)  # every visit of the day has ended and passed its grace period
MIN_CANCEL_LEAD = dt.timedelta(hours=1)
MAX_CANCEL_LEAD = dt.timedelta(hours=72)
# Events at one moment: cancellations first (the freed time is then free for a caller).
CANCEL, CALL, DAY_OVER = 0, 1, 2


@dataclass(frozen=True)
class Policy:
    name: str
    by_start: bool  # offer the earliest slots first, not the engine's ranking
    backfill: bool  # offer freed slots to the cancellation's backfill candidates
    overbook: bool  # apply the recommended overbooking and offer extra seats
    per_session: bool = False  # the desk caps extra patients per session (not in the engine)


POLICIES = (
    Policy("first_fit", by_start=True, backfill=False, overbook=False),
    Policy("ranked", by_start=False, backfill=False, overbook=False),
    Policy("ranked_backfill", by_start=False, backfill=True, overbook=False),
    Policy("ranked_backfill_overbook", by_start=False, backfill=True, overbook=True),
)
# Not one of the four compared by default: what item 2's per-session answer would win.
PER_SESSION = Policy(
    "ranked_backfill_overbook_per_session", by_start=False, backfill=True, overbook=True, per_session=True
)


@dataclass(frozen=True)
class Booking:
    request: int
    provider: str
    appointment_type: str
    start: dt.datetime
    end: dt.datetime
    seat: int
    backfill: bool


@dataclass
class Ledger:
    """What the simulator did, kept beside the database so the two can be compared."""

    at_request: dict[int, str] = field(default_factory=dict)  # booked / waitlisted / refused
    final: dict[int, int] = field(default_factory=dict)  # request -> its latest booking's pk
    bookings: dict[int, Booking] = field(default_factory=dict)  # pk -> what was booked
    cancelled: set[int] = field(default_factory=set)
    no_shows: set[int] = field(default_factory=set)
    attended: set[int] = field(default_factory=set)
    offers: dict[int, int] = field(default_factory=dict)  # cancelled pk -> candidates offered its slot
    refilled_by_offer: set[int] = field(default_factory=set)  # cancelled pks an offer refilled
    service_refusals: int = 0  # an offered slot the booking service refused (never expected)
    recommendations: list[dict[str, Any]] = field(default_factory=list)


class PolicyRun:
    def __init__(self, demand: Demand, policy: Policy, clinic: Clinic, progress: Progress):
        self.demand = demand
        self.policy = policy
        self.clinic = clinic
        self.progress = progress
        self.tz = demand.tz
        self.types = {t.code: t for t in AppointmentType.objects.filter(clinic=clinic)}
        self.providers = {p.code: p for p in Provider.objects.filter(clinic=clinic)}
        self.rooms = {r.code: r for r in Room.objects.filter(clinic=clinic)}
        self.patients = {p.code: p for p in Patient.objects.filter(clinic=clinic)}
        self.by_patient = {r.patient: r for r in demand.requests}
        self.ledger = Ledger()
        self.held_on: dict[dt.date, dict[int, None]] = defaultdict(dict)  # day -> pks, in booking order
        self.events: list[tuple[dt.datetime, int, int, Any]] = []
        self.tally: Counter[str] = Counter()
        self.reported: dt.date | None = None
        self.sequence = itertools.count()  # ties in time keep the order of pushing
        self.session_caps: dict[tuple[str, str], int] = {}
        self.extra_in_session: Counter[tuple[str, dt.datetime]] = Counter()

    # --- the clock ---------------------------------------------------------------------

    def push(self, at: dt.datetime, kind: int, payload: Any) -> None:
        heapq.heappush(self.events, (at, kind, next(self.sequence), payload))

    def run(self) -> Ledger:
        if self.policy.overbook:
            self.apply_overbooking()
        for r in self.demand.requests:
            self.push(r.at, CALL, r)
        for day in self.demand.simulated:
            self.push(self.demand.calendar.instant(day, DAY_END), DAY_OVER, day)
        while self.events:
            at, kind, _, payload = heapq.heappop(self.events)
            self.report_until(at.astimezone(self.tz).date())
            if kind == CALL:
                self.call(payload, at)
            elif kind == CANCEL:
                self.cancel(payload, at)
            else:
                self.day_over(payload, at)
        self.report_until(None)
        return self.ledger

    def report_until(self, today: dt.date | None) -> None:
        """One progress line for each simulated date that has ended."""
        if self.reported is not None and self.reported != today and self.tally:
            day = self.reported
            if day in self.demand.days:
                where = f"day {self.demand.days.index(day) + 1}/{len(self.demand.days)}"
            elif day in self.demand.simulated:
                where = "margin, not measured"
            elif day < self.demand.days[0]:
                where = "before the period"
            else:
                where = "no visits"
            t = self.tally
            self.progress(
                f"{self.policy.name}: {day:%a %Y-%m-%d} ({where}): {t['calls']} calls, {t['booked']} booked, "
                f"{t['waitlisted']} waitlisted, {t['refused']} refused; {t['cancelled']} cancelled, "
                f"{t['refilled']} refilled by offers; {t['seen']} seen, {t['no_show']} no-shows"
            )
            self.tally.clear()
        self.reported = today

    # --- the events --------------------------------------------------------------------

    def call(self, r: Request, now: dt.datetime) -> None:
        self.tally["calls"] += 1
        heard = 0
        for slot in self.offered(r, now):
            if heard == OFFERS:
                break
            if not self.within_session_cap(r, slot):
                continue  # the desk does not read it out
            heard += 1
            if not self.accepts(r, slot):
                continue
            if self.book(r, slot.provider, slot.room, slot.start, overbook=slot.overbook, now=now):
                self.ledger.at_request[r.index] = "booked"
                self.tally["booked"] += 1
                return
        if r.waits:
            services.waitlist_add(
                clinic=self.clinic,
                patient=self.patients[r.patient],
                appointment_type=self.types[r.appointment_type],
                earliest=r.earliest,
                latest=r.latest,
                note="simulated",
            )
            self.ledger.at_request[r.index] = "waitlisted"
            self.tally["waitlisted"] += 1
        else:
            self.ledger.at_request[r.index] = "refused"
            self.tally["refused"] += 1

    def offered(self, r: Request, now: dt.datetime) -> Iterator[Slot]:
        """The slots the desk reads out, in the policy's order."""
        if not self.policy.by_start:
            result = selectors.search_slots(
                clinic=self.clinic,
                appointment_type_code=r.appointment_type,
                date_from=r.earliest,
                date_to=r.latest,
                now=now,
                # The patient code brings the stated preferences into the score. A patient
                # who states none gets the same answer without it (and no other booking
                # to avoid: each caller is new), one query cheaper.
                patient_code=r.patient if r.preferences.stated else None,
                include_overbooking=self.policy.overbook,
                limit=OFFERS,  # the engine explains only the slots it returns
            )
            yield from result.slots
            return
        # Earliest first: one day at a time, asked only when the days before ran out. The
        # engine must explain every slot of an answer that is re-sorted, so a day costs
        # far less than the whole range. No patient code: first-fit reads no preference,
        # and the caller, a new patient, has no other booking to avoid.
        day = r.earliest
        while day <= r.latest:
            result = selectors.search_slots(
                clinic=self.clinic,
                appointment_type_code=r.appointment_type,
                date_from=day,
                date_to=day,
                now=now,
                include_overbooking=self.policy.overbook,
            )
            yield from sorted(result.slots, key=lambda s: (s.start, s.seat, s.provider))
            day += dt.timedelta(days=1)

    def accepts(self, r: Request, slot: Slot) -> bool:
        unmet = r.preferences.stated - r.preferences.met(slot.provider, slot.start, slot.end, self.tz)
        chance = UNMET_ACCEPT**unmet
        return draw(self.demand.seed, "accept", r.index, slot.start.isoformat(), slot.provider) < chance

    def book(
        self,
        r: Request,
        provider: str,
        room: str,
        start: dt.datetime,
        *,
        overbook: bool,
        now: dt.datetime,
        backfill_of: Appointment | None = None,
    ) -> Appointment | None:
        try:
            appointment = services.appointment_book(
                clinic=self.clinic,
                patient=self.patients[r.patient],
                appointment_type=self.types[r.appointment_type],
                provider=self.providers[provider],
                room=self.rooms[room],
                start=start,
                overbook=overbook,
                now=now,
                backfill_of=backfill_of,
            )
        except (SlotTaken, SlotUnavailable):
            self.ledger.service_refusals += 1
            return None
        pk = appointment.pk
        self.ledger.final[r.index] = pk
        self.ledger.bookings[pk] = Booking(
            request=r.index,
            provider=provider,
            appointment_type=r.appointment_type,
            start=appointment.start,
            end=appointment.end,
            seat=appointment.seat,
            backfill=backfill_of is not None,
        )
        self.held_on[appointment.start.astimezone(self.tz).date()][pk] = None
        if appointment.seat:
            self.extra_in_session[self.session(provider, appointment.start)] += 1
        notice = appointment.start - now
        if r.cancels and backfill_of is None and notice > MIN_CANCEL_LEAD:
            # 1-72 hours ahead, and never before the booking was made.
            longest = min(MAX_CANCEL_LEAD, notice)
            lead = MIN_CANCEL_LEAD + r.cancel_draw * (longest - MIN_CANCEL_LEAD)
            self.push(appointment.start - lead, CANCEL, pk)
        return appointment

    def cancel(self, pk: int, now: dt.datetime) -> None:
        freed, candidates = services.appointment_cancel(
            appointment_id=pk, clinic=self.clinic, reason=CANCEL_REASON, now=now
        )
        self.ledger.cancelled.add(pk)
        self.held_on[freed.start.astimezone(self.tz).date()].pop(pk, None)
        if freed.seat:
            self.extra_in_session[self.session(freed.provider.code, freed.start)] -= 1
        self.tally["cancelled"] += 1
        if not self.policy.backfill:
            return
        cancelling = self.ledger.bookings[pk].request
        chance = accept_offer(freed.start - now)
        for candidate in candidates:
            r = self.by_patient.get(candidate.patient.code)
            if r is None:
                continue
            self.ledger.offers[pk] = self.ledger.offers.get(pk, 0) + 1
            if draw(self.demand.seed, "offer", cancelling, r.index) >= chance:
                continue
            booked = self.book(
                r,
                freed.provider.code,
                freed.room.code,
                freed.start,
                overbook=candidate.overbook,
                now=now,
                backfill_of=freed,
            )
            if booked is not None:
                self.ledger.refilled_by_offer.add(pk)
                self.tally["refilled"] += 1
                return

    def day_over(self, day: dt.date, now: dt.datetime) -> None:
        """The day's visits end: no-shows through the service, the rest completed."""
        attended = []
        for pk in self.held_on.pop(day, {}):
            booking = self.ledger.bookings[pk]
            r = self.demand.requests[booking.request]
            rate = self.demand.no_show_rates.get((booking.provider, booking.appointment_type), 0.0)
            if r.no_show_draw < rate:
                services.appointment_change_status(
                    appointment_id=pk, action="no_show", clinic=self.clinic, now=now
                )
                self.ledger.no_shows.add(pk)
                self.tally["no_show"] += 1
            else:
                attended.append(pk)
        if attended:
            active = [AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED]
            Appointment.objects.filter(pk__in=attended, status__in=active).update(
                status=AppointmentStatus.COMPLETED, updated_at=now
            )
            AppointmentHistory.objects.bulk_create(
                AppointmentHistory(
                    appointment_id=pk,
                    action="complete",
                    changes={
                        "status": [AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED],
                        "simulated": True,
                    },
                )
                for pk in attended
            )
            self.ledger.attended.update(attended)
            self.tally["seen"] += len(attended)

    # --- overbooking -------------------------------------------------------------------

    def apply_overbooking(self) -> None:
        """Recommend from the loaded history (the 90 days before the first call) and
        apply, as an admin would with one action.

        The per-session variant applies one extra seat wherever the recommendation allows
        extra patients per session (``extra_per_session``), and the desk keeps each
        session's overbooked patients within that number itself: what the binomial
        recommendation would win if the engine counted extra seats per session."""
        recommendations = overbooking.recommend(self.clinic, now=self.demand.first_call, days=90)
        applied = recommendations
        if self.policy.per_session:
            applied = [dataclasses.replace(r, max_extra=min(r.extra_per_session, 1)) for r in recommendations]
            self.session_caps = {
                (r.provider, r.appointment_type): r.extra_per_session for r in recommendations
            }
        overbooking.apply_recommendations(self.clinic, applied, actor=None)
        for rec in recommendations:
            self.ledger.recommendations.append(
                {
                    "provider": rec.provider,
                    "appointment_type": rec.appointment_type,
                    "appointments": rec.appointments,
                    "no_show_rate": round(rec.no_show_rate, 4),
                    "max_extra": rec.max_extra,
                    "risk": round(rec.risk, 4),
                    "expected_minutes_won": round(rec.expected_minutes_won, 1),
                    # The binomial answer per session, which a per-time rule cannot say.
                    "extra_per_session": rec.extra_per_session,
                    "session_risk": round(rec.session_risk, 4),
                    "note": rec.note,
                }
            )
        seats = sum(1 for rec in applied if rec.max_extra)
        self.progress(
            f"{self.policy.name}: {seats} of {len(recommendations)} applied recommendation(s)"
            " open an extra seat"
        )

    def within_session_cap(self, r: Request, slot: Slot) -> bool:
        """The per-session variant: may this overbooking slot be taken?"""
        if not self.policy.per_session or slot.seat == 0:
            return True
        cap = self.session_caps.get((slot.provider, r.appointment_type), 0)
        return self.extra_in_session[self.session(slot.provider, slot.start)] < cap

    def session(self, provider: str, start: dt.datetime) -> tuple[str, dt.datetime]:
        """The provider's contiguous working stretch holding ``start``."""
        day = start.astimezone(self.tz).date()
        for span_start, span_end in self.demand.calendar.bookable(provider, day):
            if span_start <= start < span_end:
                return provider, span_start
        return provider, start

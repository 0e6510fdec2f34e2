"""iCalendar (RFC 5545) documents, built with the ``icalendar`` package from rows already
read: a provider's feed of busy blocks, and one appointment as a patient's invitation.

``icalendar`` writes the CRLF line endings, folds long lines and escapes text; these
functions decide what goes in, and above all what stays out: a feed carries a patient's
initials only, never a name, contact, note or code.
"""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar, Event

from calendars.selectors import ChainPlace
from clinic.models import Clinic, Patient, Provider
from scheduling.models import Appointment, AppointmentStatus

PRODID = "-//Clinic scheduling engine//Calendar feeds 1.0//EN"
# How often subscribers should fetch the feed again (RFC 7986, and Outlook's older name for
# it, which takes the same ISO 8601 duration as text).
REFRESH = dt.timedelta(minutes=15)
CONTENT_TYPE = "text/calendar; charset=utf-8"


def initials(patient: Patient) -> str:
    """``"M. W."``: enough for a clinician to tell visits apart, too little to name anyone."""
    letters = [name.strip()[:1].upper() for name in (patient.first_name, patient.last_name)]
    return " ".join(f"{letter}." for letter in letters if letter) or "?"


def _calendar(clinic: Clinic, name: str, method: str | None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", clinic.timezone)
    return calendar


def _with_timezone(calendar: Calendar, first: dt.date, last: dt.date) -> bytes:
    # Whole years around the events: the same VTIMEZONE for a whole day of requests (a
    # stable feed body), and still right if a calendar app keeps it for a while.
    calendar.add_missing_timezones(
        first_date=dt.date(first.year, 1, 1), last_date=dt.date(last.year + 2, 1, 1)
    )
    return calendar.to_ical()


def _times(event: Event, appointment: Appointment, tz: dt.tzinfo) -> None:
    # In the clinic's zone with its TZID: a patient travelling sees the clinic's time
    # converted, and the VTIMEZONE says how.
    event.add("dtstart", appointment.start.astimezone(tz))
    event.add("dtend", appointment.end.astimezone(tz))


def provider_feed(
    provider: Provider,
    appointments: list[Appointment],
    places: dict[int, ChainPlace],
    window: tuple[dt.datetime, dt.datetime],
) -> bytes:
    """The provider's busy blocks: type, room and the patient's initials, each an opaque
    private event whose UID stays the same when the visit is rescheduled.

    No ``METHOD``: a subscribed calendar, whose ``DTSTAMP`` is then the time an event last
    changed (RFC 5545 3.8.7.2), so the body only changes when the schedule does.
    """
    clinic = provider.clinic
    tz = clinic.tz
    calendar = _calendar(clinic, f"{provider.name} · {clinic.name}", method=None)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT15M")
    for appointment in appointments:
        place = places[appointment.pk]
        event = Event()
        event.add("uid", f"busy-{place.root}@{clinic.code}.clinic-scheduling-engine")
        event.add("dtstamp", appointment.updated_at)
        event.add("last-modified", appointment.updated_at)
        event.add("created", appointment.created_at)
        event.add("sequence", place.moves)
        _times(event, appointment, tz)
        who = initials(appointment.patient)
        event.add("summary", f"{appointment.appointment_type.name} · {who}")
        event.add("location", appointment.room.name)
        seat = f" (overbooking seat {appointment.seat})" if appointment.overbook else ""
        event.add(
            "description",
            f"{appointment.appointment_type.name} with {who} in {appointment.room.name}{seat}; "
            f"{appointment.get_status_display().lower()}.",
        )
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        event.add("class", "PRIVATE")
        calendar.add_component(event)
    start, end = window
    return _with_timezone(calendar, start.astimezone(tz).date(), end.astimezone(tz).date())


def invitation(appointment: Appointment, place: ChainPlace, now: dt.datetime) -> bytes:
    """One appointment for the patient's calendar: ``METHOD:PUBLISH``, or ``METHOD:CANCEL``
    with ``STATUS:CANCELLED`` once it is cancelled.

    The UID is the first booking's, so every reschedule updates the same event; SEQUENCE
    counts the reschedules, and a cancellation one more (RFC 5546: a newer version of the
    event carries a higher sequence).
    """
    clinic = appointment.clinic
    cancelled = appointment.status == AppointmentStatus.CANCELLED
    calendar = _calendar(clinic, clinic.name, method="CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", f"visit-{place.root}@{clinic.code}.clinic-scheduling-engine")
    event.add("dtstamp", now)  # with a METHOD: when this message was made (RFC 5545 3.8.7.2)
    event.add("last-modified", appointment.updated_at)
    event.add("sequence", place.moves + (1 if cancelled else 0))
    _times(event, appointment, clinic.tz)
    event.add("summary", f"{appointment.appointment_type.name} at {clinic.name}")
    # Where to go: the clinic's postal address when the admin has given one, else its name.
    event.add(
        "location",
        f"{clinic.name}, {', '.join(clinic.address.splitlines())}" if clinic.address else clinic.name,
    )
    if clinic.email:
        # RFC 5546 wants an organizer on PUBLISH and CANCEL; calendars match a cancel by it.
        event.add("organizer", f"mailto:{clinic.email}", parameters={"CN": clinic.name})
    event.add(
        "description",
        f"{appointment.appointment_type.name} with {appointment.provider.name}, {appointment.room.name}.",
    )
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    calendar.add_component(event)
    day = appointment.start.astimezone(clinic.tz).date()
    return _with_timezone(calendar, day, day)

"""The front desk's working day in real Chromium, through the real pages and a live server."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from playwright.sync_api import expect

from clinic.models import ApiToken, Membership
from scheduling import services
from scheduling.models import Appointment, AppointmentStatus

pytestmark = pytest.mark.django_db(transaction=True)


def book(clinic, patient, provider, room, appointment_type, start: dt.datetime, user=None) -> Appointment:
    return services.appointment_book(
        clinic=clinic,
        patient=patient,
        appointment_type=appointment_type,
        provider=provider,
        room=room,
        start=start,
        actor=user,
    )


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo("Europe/Berlin"))


def open_board(page, live_server, day: dt.date) -> None:
    page.goto(f"{live_server.url}/?date={day.isoformat()}")
    expect(page.locator("#board-title")).to_contain_text(f"{day.day} {day:%B %Y}")


def test_anonymous_user_lands_on_the_login_page(page, live_server, shot, desk_clinic):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Front desk")).to_be_visible()
    shot(page, "login")


def test_find_and_book_a_slot_with_the_keyboard(page, live_server, login, front_desk, desk_clinic, day, shot):
    login(page, front_desk)
    expect(page.locator(".top")).to_contain_text("Riverside Family Practice")
    expect(page.locator(".top .role")).to_have_text("Front desk")
    open_board(page, live_server, day)
    shot(page, "board")

    page.keyboard.press("/")  # the shortcut: focus lands in the patient search
    search = page.get_by_label("Search by name, code or phone")
    expect(search).to_be_focused()
    search.type("webe")
    expect(page.locator("#patient-results .result")).to_have_count(1)
    search.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#chosen-patient")).to_contain_text("Marta Weber")
    page.get_by_label("Appointment type").select_option("consult")
    page.get_by_label("From").fill(day.isoformat())
    page.get_by_label("From").dispatch_event("change")
    first = page.locator("#slots button.book").first
    expect(first).to_be_visible()
    shot(page, "find-and-book")
    first.focus()
    page.keyboard.press("Enter")

    expect(page.locator("#status")).to_contain_text("Booked Marta Weber, Consultation")
    appointment = Appointment.objects.get(patient__code="p-1")
    assert appointment.status == AppointmentStatus.BOOKED
    # The board refreshed in place and shows the new block.
    expect(page.locator(f"#appt-providers-{appointment.pk}")).to_contain_text("Marta Weber")
    shot(page, "appointment-panel")


def test_slot_taken_a_moment_earlier_is_said_inline_and_the_form_is_kept(
    page, live_server, login, front_desk, desk_clinic, day
):
    login(page, front_desk)
    page.goto(
        f"{live_server.url}/book/?patient=p-2&appointment_type=consult&date_from={day}&date_to={day}"
        "&provider=dr-adler"
    )
    first = page.locator("#slots button.book").first
    expect(first).to_be_visible()
    provider, room, start, _ = first.get_attribute("value").split("|")

    # Another desk books that very slot through the API.
    token = ApiToken.issue(front_desk)[1]
    answer = requests.post(
        f"{live_server.url}/api/v1/appointments",
        json={
            "patient": "p-3",
            "appointment_type": "consult",
            "provider": provider,
            "room": room,
            "start": start,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text

    first.click()
    alert = page.locator("#slots [role=alert]")
    expect(alert).to_contain_text("Just taken")
    expect(alert).to_contain_text("dr-adler is already booked")
    expect(page.locator("#chosen-patient")).to_contain_text("Jonas Roth")  # nothing typed is lost
    expect(page.locator(f"#slots button.book[value^='{provider}|{room}|{start}']")).to_have_count(0)
    assert not Appointment.objects.filter(patient__code="p-2").exists()


def test_cancel_then_refill_from_the_backfill_list(
    page, live_server, login, front_desk, desk_clinic, day, shot
):
    c = desk_clinic
    appointment = book(
        c["clinic"], c["patients"][0], c["providers"][0], c["rooms"][0], c["consult"], at(day, 9)
    )
    services.waitlist_add(
        clinic=c["clinic"], patient=c["patients"][3], appointment_type=c["consult"], earliest=day, latest=day
    )
    login(page, front_desk)
    open_board(page, live_server, day)
    page.locator(f"#appt-providers-{appointment.pk}").click()
    expect(page.locator("#panel h2")).to_have_text("Marta Weber")
    page.get_by_label("Reason for cancelling").fill("Patient is ill")
    page.get_by_role("button", name="Cancel appointment").click()

    expect(page.locator("#status")).to_contain_text("Cancelled Marta Weber")
    candidates = page.locator(".candidates li")
    expect(candidates.first).to_contain_text("Paul Keller")
    expect(candidates.first).to_contain_text("Waitlist")
    shot(page, "backfill")
    candidates.first.get_by_role("button", name="Book into this slot").click()

    expect(page.locator("#status")).to_contain_text("Booked Paul Keller")
    refill = Appointment.objects.get(patient__code="p-4")
    assert refill.start == appointment.start and refill.backfill_of_id == appointment.pk
    expect(page.locator(f"#appt-providers-{refill.pk}")).to_contain_text("Paul Keller")


def test_check_in_then_the_board_shows_it(page, live_server, login, front_desk, desk_clinic, day):
    c = desk_clinic
    appointment = book(
        c["clinic"], c["patients"][1], c["providers"][1], c["rooms"][1], c["consult"], at(day, 10)
    )
    login(page, front_desk)
    open_board(page, live_server, day)
    page.locator(f"#appt-providers-{appointment.pk}").click()
    page.get_by_role("button", name="Check in").click()
    expect(page.locator("#status")).to_contain_text("Jonas Roth: checked in")
    expect(page.locator(f"#appt-providers-{appointment.pk}")).to_contain_text("Checked in")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CHECKED_IN


def test_reschedule_to_a_ranked_slot(page, live_server, login, front_desk, desk_clinic, day, shot):
    c = desk_clinic
    appointment = book(
        c["clinic"], c["patients"][2], c["providers"][0], c["rooms"][0], c["consult"], at(day, 11)
    )
    login(page, front_desk)
    open_board(page, live_server, day)
    page.locator(f"#appt-providers-{appointment.pk}").click()
    page.get_by_role("button", name="Reschedule").click()
    move = page.locator("#slots button.book").first
    expect(move).to_be_visible()
    shot(page, "reschedule")
    move.click()

    expect(page.locator("#status")).to_contain_text("Moved Lena Vogel")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    new = Appointment.objects.get(rescheduled_from=appointment)
    assert new.status == AppointmentStatus.BOOKED and new.start != appointment.start


def test_a_second_desk_sees_the_booking_without_reloading(
    browser, live_server, login, front_desk, desk_clinic, day
):
    first, second = browser.new_context(viewport={"width": 1366, "height": 768}), browser.new_context()
    try:
        desk_a, desk_b = first.new_page(), second.new_page()
        login(desk_a, front_desk)
        login(desk_b, front_desk)
        open_board(desk_b, live_server, day)
        expect(desk_b.locator("#board .appt")).to_have_count(0)

        desk_a.goto(
            f"{live_server.url}/book/?patient=p-5&appointment_type=consult&date_from={day}&date_to={day}"
        )
        desk_a.locator("#slots button.book").first.click()
        expect(desk_a.locator("#status")).to_contain_text("Booked Ida Brandl")

        # Desk B polls (every 2 s in this test) and shows it in place.
        expect(desk_b.locator("#board .appt")).to_contain_text("Ida Brandl", timeout=15_000)
    finally:
        first.close()
        second.close()


def test_a_clinician_sees_no_booking_or_cancelling(page, live_server, login, clinician, desk_clinic, day):
    c = desk_clinic
    # The clinician is Dr. Adler: their own appointments are the ones they see and move.
    Membership.objects.create(user=clinician, clinic=c["clinic"], provider=c["providers"][0])
    appointment = book(
        c["clinic"], c["patients"][0], c["providers"][0], c["rooms"][0], c["consult"], at(day, 9)
    )
    login(page, clinician)
    expect(page.locator(".top .role")).to_have_text("Clinician")
    expect(page.locator("#find-slot")).to_have_count(0)
    open_board(page, live_server, day)
    page.locator(f"#appt-providers-{appointment.pk}").click()
    expect(page.get_by_role("button", name="Check in")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel appointment")).to_have_count(0)
    expect(page.get_by_role("button", name="Reschedule")).to_have_count(0)

"""axe-core on every main page, in real Chromium: no serious or critical violation.

Each page is also saved as a screenshot under test-artifacts/ for people to look at.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe

from scheduling import services

pytestmark = pytest.mark.django_db(transaction=True)

BLOCKING = ("serious", "critical")


def violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.fixture
def booked_day(desk_clinic, day):
    c = desk_clinic
    tz = ZoneInfo("Europe/Berlin")
    appointment = services.appointment_book(
        clinic=c["clinic"],
        patient=c["patients"][0],
        appointment_type=c["consult"],
        provider=c["providers"][0],
        room=c["rooms"][0],
        start=dt.datetime.combine(day, dt.time(9), tzinfo=tz),
    )
    services.waitlist_add(
        clinic=c["clinic"], patient=c["patients"][1], appointment_type=c["consult"], earliest=day, latest=day
    )
    return appointment


def test_login_page_has_no_serious_violation(page, live_server, desk_clinic, shot):
    page.goto(f"{live_server.url}/login/")
    shot(page, "login")
    assert violations(page) == []


def test_main_pages_have_no_serious_violation(page, live_server, login, front_desk, booked_day, day, shot):
    login(page, front_desk)
    pages = {
        "board": f"/?date={day}",
        "board-rooms": f"/?date={day}&view=rooms",
        "find-and-book": f"/book/?patient=p-2&appointment_type=consult&date_from={day}&date_to={day}",
        "appointment": f"/appointments/{booked_day.pk}/",
        "reschedule": f"/appointments/{booked_day.pk}/reschedule/",
        "waitlist": "/waitlist/",
        "patient": "/patients/p-1/",
        "stats": f"/stats/?date={day}",
        "stats-week": f"/stats/?date={day}&period=week",
    }
    found = {}
    for name, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        shot(page, name)
        found[name] = violations(page)
    assert found == {name: [] for name in pages}

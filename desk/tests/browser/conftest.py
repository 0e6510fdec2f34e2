"""Real Chromium (Debian's) against a live server on the test database.

`make test` installs Chromium where it is missing; in CI a missing browser fails the run
instead of skipping it, so these tests cannot silently stop proving anything.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
# still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
PASSWORD = "desk-test-password-1"


def pytest_collection_modifyitems(items):
    for item in items:
        if "browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"No Chromium at {CHROMIUM}: `make test` installs it (apt-get install chromium).")
        pytest.skip("No Chromium on this machine: run `make test`, which installs it.")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 768}, "locale": "en-GB"}


@pytest.fixture
def page(page):
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def shot():
    """shot(page, name): a screenshot under test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)

    def _shot(page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    return _shot


@pytest.fixture
def day():
    from scheduling.tests.conftest import next_weekday

    return next_weekday(0)


@pytest.fixture
def desk_clinic(transactional_db, settings):
    """A small clinic: two providers (Mon-Fri 08:00-12:00, 13:00-17:00), three rooms (one
    with an ECG), a consultation and an ECG type, patients with real-looking names."""
    from clinic.tests.factories import (
        AppointmentTypeFactory,
        ClinicFactory,
        EquipmentFactory,
        PatientFactory,
        ProviderFactory,
        RoomFactory,
        WorkingHoursFactory,
    )

    settings.DESK_POLL_SECONDS = 2
    clinic = ClinicFactory(code="riverside", name="Riverside Family Practice", timezone="Europe/Berlin")
    ecg = EquipmentFactory(clinic=clinic, code="ecg", name="ECG")
    rooms = [RoomFactory(clinic=clinic, code=f"r{i}", name=f"Room {i}") for i in (1, 2, 3)]
    rooms[2].equipment.add(ecg)
    providers = [
        ProviderFactory(clinic=clinic, code="dr-adler", name="Dr. Ada Adler"),
        ProviderFactory(clinic=clinic, code="dr-brandt", name="Dr. Ben Brandt"),
    ]
    for provider in providers:
        for weekday in range(5):
            WorkingHoursFactory(provider=provider, weekday=weekday, start=dt.time(8), end=dt.time(12))
            WorkingHoursFactory(provider=provider, weekday=weekday, start=dt.time(13), end=dt.time(17))
    consult = AppointmentTypeFactory(clinic=clinic, code="consult", name="Consultation", duration_minutes=30)
    ecg_type = AppointmentTypeFactory(clinic=clinic, code="ecg", name="ECG check", duration_minutes=30)
    ecg_type.required_equipment.add(ecg)
    names = [("Marta", "Weber"), ("Jonas", "Roth"), ("Lena", "Vogel"), ("Paul", "Keller"), ("Ida", "Brandl")]
    patients = [
        PatientFactory(
            clinic=clinic, code=f"p-{i}", first_name=first, last_name=last, phone=f"+4930555000{i}"
        )
        for i, (first, last) in enumerate(names, start=1)
    ]
    return {
        "clinic": clinic,
        "providers": providers,
        "rooms": rooms,
        "consult": consult,
        "patients": patients,
    }


def _user(django_user_model, name: str, role: str):
    from scheduling.tests.conftest import make_user

    user = make_user(django_user_model, name, role)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def front_desk(desk_clinic, django_user_model):
    return _user(django_user_model, "frontdesk", "front_desk")


@pytest.fixture
def clinician(desk_clinic, django_user_model):
    return _user(django_user_model, "clinician", "clinician")


@pytest.fixture
def login(live_server):
    """login(page, user): through the real login form."""

    def _login(page, user) -> None:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        page.wait_for_url(f"{live_server.url}/")

    return _login

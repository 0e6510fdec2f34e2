"""Real Chromium under the Content-Security-Policy: the front desk, the admin and the API
docs (Swagger UI from ninja's own static files) work, and the browser refuses nothing."""

from __future__ import annotations

import pytest

from desk.tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def refusals(page):
    """What the browser refused under the policy, as its console reported it."""
    seen: list[str] = []
    page.on(
        "console",
        lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None,
    )
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    return seen


def test_the_front_desk_works_under_the_policy(page, live_server, login, front_desk, day, refusals):
    login(page, front_desk)
    page.goto(f"{live_server.url}/?date={day}")
    page.locator(".grid").wait_for()
    # htmx (allowEval off) opens find-and-book in the side panel.
    page.keyboard.press("/")
    page.locator("#find-form").wait_for()
    assert refusals == []


def test_the_admin_works_under_the_policy(page, live_server, desk_clinic, django_user_model, refusals):
    django_user_model.objects.create_superuser("boss", password=PASSWORD)
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Site administration").wait_for()
    # A changelist with its actions and a change form with the filter widget (admin's JS).
    page.goto(f"{live_server.url}/admin/auth/user/")
    page.locator("#changelist").wait_for()
    page.goto(f"{live_server.url}/admin/auth/group/add/")
    page.locator(".selector-available").first.wait_for()
    assert refusals == []


def test_the_api_docs_work_under_the_policy(page, live_server, desk_clinic, refusals):
    page.goto(f"{live_server.url}/api/v1/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    page.locator(".swagger-ui .opblock").first.wait_for()
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert refusals == []

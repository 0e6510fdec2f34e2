"""Login throttling (django-axes) on the front desk's login and the admin's, through the
real login forms: five failures for one username from one address lock that pair out for
15 minutes, on the styled login page, and the lockout is in the admin."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from axes.models import AccessAttempt

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-1"
WRONG = "not-the-password"
LOCKED = "Too many failed log-ins"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("desk1", password=PASSWORD, is_staff=True)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("boss", password=PASSWORD)


def log_in(client, username, password, *, path="/login/", address="127.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def fail(client, username, times, **kwargs):
    return [log_in(client, username, WRONG, **kwargs) for _ in range(times)]


def test_five_failures_lock_the_user_out_on_the_styled_login_page(client, staff):
    first_four = fail(client, "desk1", 4)
    assert [r.status_code for r in first_four] == [200] * 4
    assert all(LOCKED not in r.content.decode() for r in first_four)
    assert "Please enter a correct username and password" in first_four[0].content.decode()

    fifth = log_in(client, "desk1", WRONG)
    assert fifth.status_code == 429
    html = fifth.content.decode()
    assert LOCKED in html and "refused for 15 minutes" in html and "desk1" in html
    assert "desk/desk.css" in html and '<form method="post"' in html  # the login page, styled

    # Now even the right password is refused, with the same page.
    refused = log_in(client, "desk1", PASSWORD)
    assert refused.status_code == 429 and LOCKED in refused.content.decode()
    assert not logged_in(client)


def test_the_lockout_ends_after_15_minutes(client, staff):
    fail(client, "desk1", 5)
    assert log_in(client, "desk1", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=14))
    assert log_in(client, "desk1", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    response = log_in(client, "desk1", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"


def test_attempts_during_the_lockout_do_not_prolong_it(client, staff):
    fail(client, "desk1", 5)
    locked_at = AccessAttempt.objects.get().attempt_time
    fail(client, "desk1", 3)
    attempt = AccessAttempt.objects.get()
    assert attempt.attempt_time == locked_at and attempt.failures_since_start == 5


def test_the_lockout_is_per_user_and_address(client, staff, django_user_model):
    django_user_model.objects.create_user("desk2", password=PASSWORD, is_staff=True)
    fail(client, "desk1", 5)
    # The same user from another address, and another user from the same address, log in.
    assert log_in(client, "desk1", PASSWORD, address="10.0.0.7").status_code == 302
    client.logout()
    assert log_in(client, "desk2", PASSWORD).status_code == 302


def test_behind_proxies_the_address_the_outermost_proxy_saw_counts(client, staff, settings):
    settings.TRUSTED_PROXIES = 1

    def via_proxy(client_address: str, spoofed: str) -> int:
        # The client made up the left entry; the proxy (REMOTE_ADDR 10.0.0.1) appended the right one.
        return client.post(
            "/login/",
            {"username": "desk1", "password": WRONG},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"{spoofed}, {client_address}",
        ).status_code

    # Five failures from one client, each claiming another address: locked all the same.
    assert [via_proxy("203.0.113.9", f"198.51.100.{i}") for i in range(5)] == [200] * 4 + [429]
    assert AccessAttempt.objects.get().ip_address == "203.0.113.9"
    # Another client behind the same proxy is not locked out.
    response = client.post(
        "/login/",
        {"username": "desk1", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.50",
    )
    assert response.status_code == 302


def test_without_trusted_proxies_forwarded_for_is_ignored(client, staff):
    for i in range(5):
        client.post(
            "/login/",
            {"username": "desk1", "password": WRONG},
            REMOTE_ADDR="192.0.2.1",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
        )
    assert AccessAttempt.objects.get().ip_address == "192.0.2.1"


def test_a_successful_login_resets_the_count(client, staff):
    fail(client, "desk1", 4)
    assert log_in(client, "desk1", PASSWORD).status_code == 302
    client.logout()
    assert [r.status_code for r in fail(client, "desk1", 4)] == [200] * 4


def test_the_admin_login_is_throttled_too(client, superuser):
    responses = fail(client, "boss", 5, path="/admin/login/")
    assert [r.status_code for r in responses] == [200] * 4 + [429]
    assert LOCKED in responses[-1].content.decode()
    refused = log_in(client, "boss", PASSWORD, path="/admin/login/")
    assert refused.status_code == 429
    assert not logged_in(client)


def test_the_lockout_shows_in_the_admin_and_deleting_it_lifts_it(client, admin_client, staff):
    fail(client, "desk1", 5, address="10.1.2.3")
    page = admin_client.get("/admin/axes/accessattempt/").content.decode()
    assert "desk1" in page and "10.1.2.3" in page
    attempt = AccessAttempt.objects.get(username="desk1")
    assert attempt.failures_since_start == 5
    assert WRONG not in attempt.post_data  # the password is never stored

    admin_client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert not AccessAttempt.objects.exists()
    assert log_in(client, "desk1", PASSWORD, address="10.1.2.3").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_through_a_live_server_csrf_and_the_throttle_work_together(live_server, django_user_model):
    django_user_model.objects.create_user("desk1", password=PASSWORD, is_staff=True)
    django_user_model.objects.create_user("desk2", password=PASSWORD, is_staff=True)
    url = f"{live_server.url}/login/"

    def attempt(session: requests.Session, username: str, password: str) -> requests.Response:
        form = session.get(url, timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        return session.post(
            url,
            data={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": ""},
            allow_redirects=False,
            timeout=10,
        )

    browser = requests.Session()
    # Without the CSRF token the form is refused before any password is checked.
    assert browser.post(url, data={"username": "desk1", "password": WRONG}, timeout=10).status_code == 403
    statuses = [attempt(browser, "desk1", WRONG).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    refused = attempt(browser, "desk1", PASSWORD)
    assert refused.status_code == 429 and LOCKED in refused.text
    # The locked page's own form carries a fresh token, and another user logs in through it.
    other = attempt(browser, "desk2", PASSWORD)
    assert other.status_code == 302 and other.headers["Location"] == "/"
    assert browser.get(f"{live_server.url}/", timeout=10, allow_redirects=False).status_code != 302

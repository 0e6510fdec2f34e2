"""The public page through a real server: requests, with the CSRF cookie and token a browser
would send (Django's test client skips CSRF checks)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.utils import timezone

from clinic.tests.test_csp import EXPECTED, policy, scripts
from notifications.delivery import sweep_outbox
from notifications.tests.conftest import API_KEY
from notifications.tests.hub import FakeHub
from offers.models import OfferStatus, SlotOffer
from offers.tests.conftest import free_a_slot

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 20


@pytest.fixture
def offered(live_server, small_clinic, no_hub):
    freed = free_a_slot(small_clinic, waiting=3)
    return live_server.url + "/offers/accept", freed


def open_page(session: requests.Session, url: str, token: str) -> tuple[requests.Response, str]:
    """GET the page; returns it and the CSRF token its form carries ("" without a form)."""
    response = session.get(url, params={"token": token}, timeout=TIMEOUT)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text)
    return response, found.group(1) if found else ""


def accept(session: requests.Session, url: str, token: str, csrf: str) -> requests.Response:
    return session.post(url, data={"token": token, "csrfmiddlewaretoken": csrf}, timeout=TIMEOUT)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_page_shows_the_slot_and_one_button_and_nothing_about_the_patient(offered):
    url, freed = offered
    patient = freed.waiting[0]
    with requests.Session() as session:
        response, csrf = open_page(session, url, freed.tokens()[patient.code])
    assert response.status_code == 200 and csrf
    page = text(response.text)
    date = freed.appointment.start.astimezone(freed.setup["clinic"].tz)
    assert f"{date:%A} {date.day} {date:%B %Y}" in page
    assert "09:00–09:30" in page
    assert freed.appointment.provider.name in page and "Consultation" in page
    assert "Riverside Family Practice" in page
    assert response.text.count("<button") == 1 and 'method="post"' in response.text
    for person in (patient, freed.holder):
        for value in (person.first_name, person.last_name, person.phone, person.email, person.code):
            assert value not in response.text, value
    assert freed.booked() == []  # GET never books
    assert "no-store" in response.headers["Cache-Control"]


def test_the_page_meets_the_content_security_policy_and_fits_a_phone(offered):
    url, freed = offered
    with requests.Session() as session:
        response, _ = open_page(session, url, freed.tokens()[freed.waiting[0].code])
        assert policy(response.headers) == EXPECTED
        found = scripts(response.text)
        assert found.problems == [] and found.sources == []
        assert "<style" not in response.text and " style=" not in response.text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in response.text
        stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', response.text).group(1)
        assert stylesheet.startswith("/static/offers/")
        css = session.get(url.replace("/offers/accept", "") + stylesheet, timeout=TIMEOUT)
        assert css.status_code == 200 and "max-width" in css.text


def test_accepting_with_the_csrf_token_books_and_a_second_post_books_nothing(offered):
    url, freed = offered
    token = freed.tokens()[freed.waiting[0].code]
    with requests.Session() as session:
        _, csrf = open_page(session, url, token)
        first = accept(session, url, token, csrf)
        again = accept(session, url, token, csrf)
        later, _ = open_page(session, url, token)
    assert first.status_code == 200 and "Booked" in first.text
    assert again.status_code == 410 and "already been used" in again.text
    assert later.status_code == 410 and "<button" not in later.text
    assert [a.patient for a in freed.booked()] == [freed.waiting[0]]


def test_a_post_without_the_csrf_token_books_nothing(offered):
    url, freed = offered
    token = freed.tokens()[freed.waiting[0].code]
    response = requests.post(url, data={"token": token}, timeout=TIMEOUT)
    assert response.status_code == 403
    assert freed.booked() == []
    assert freed.offer_of(freed.waiting[0]).status == OfferStatus.OFFERED


@pytest.mark.parametrize(
    "token, status, words",
    [
        ("", 404, "not valid"),
        ("made-up-token-that-nobody-was-given-0123456789", 404, "not valid"),
    ],
)
def test_an_unknown_link_gets_a_clear_page(offered, token, status, words):
    url, freed = offered
    with requests.Session() as session:
        response, csrf = open_page(session, url, token)
        assert (response.status_code, csrf) == (status, "")
        assert words in response.text
        posted = session.post(url, data={"token": token, "csrfmiddlewaretoken": "x" * 32}, timeout=TIMEOUT)
        assert posted.status_code in (403, 404)
    assert freed.booked() == []


def test_an_expired_link_gets_a_clear_page_and_books_nothing(offered):
    url, freed = offered
    patient = freed.waiting[0]
    token = freed.tokens()[patient.code]
    with requests.Session() as session:
        _, csrf = open_page(session, url, token)
        # The hold ran out while the page was open.
        SlotOffer.objects.filter(slot=freed.slot).update(
            offered_at=freed.now - dt.timedelta(minutes=20), expires_at=freed.now - dt.timedelta(minutes=5)
        )
        page, form = open_page(session, url, token)
        posted = accept(session, url, token, csrf)
    assert page.status_code == 410 and "expired" in page.text and form == ""
    assert posted.status_code == 410 and "expired" in posted.text
    assert freed.booked() == []


def test_the_link_the_hub_receives_opens_the_page_and_books(live_server, small_clinic, settings):
    hub = FakeHub().start()
    try:
        settings.NOTIFICATION_HUB_URL, settings.NOTIFICATION_HUB_API_KEY = hub.url, API_KEY
        settings.PUBLIC_BASE_URL = live_server.url
        freed = free_a_slot(small_clinic, waiting=1)
        sweep_outbox(timezone.now())
        [received] = [r.body for r in hub.received if r.body["event_type"] == "waitlist.slot_available"]
    finally:
        hub.stop()
    link = received["payload"]["offer"]["accept_url"]
    assert link.startswith(f"{live_server.url}/offers/accept?token=")
    with requests.Session() as session:
        page = session.get(link, timeout=TIMEOUT)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
        response = accept(session, url=f"{live_server.url}/offers/accept", token=token, csrf=csrf)
    assert response.status_code == 200 and "Booked" in response.text
    assert [a.patient for a in freed.booked()] == [freed.waiting[0]]


def fire_together(url: str, tokens: list[str]) -> list[requests.Response]:
    """Each token from its own browser: the page first, then every POST at once."""
    barrier = threading.Barrier(len(tokens))

    def one(token: str) -> requests.Response:
        with requests.Session() as session:
            _, csrf = open_page(session, url, token)
            barrier.wait(timeout=TIMEOUT)
            return accept(session, url, token, csrf)

    with ThreadPoolExecutor(len(tokens)) as pool:
        return list(pool.map(one, tokens))


def test_two_concurrent_posts_of_one_link_book_once(offered):
    url, freed = offered
    token = freed.tokens()[freed.waiting[0].code]
    responses = fire_together(url, [token, token])
    assert sorted(r.status_code for r in responses) == [200, 410], [r.text for r in responses]
    assert [a.patient for a in freed.booked()] == [freed.waiting[0]]


def test_two_patients_accepting_at_once_one_books_the_other_finds_it_taken(offered):
    url, freed = offered
    tokens = freed.tokens()
    responses = fire_together(url, [tokens[p.code] for p in freed.waiting[:3]])
    assert sorted(r.status_code for r in responses) == [200, 409, 409]
    assert sum("already been taken" in r.text for r in responses) == 2
    [appointment] = freed.booked()
    winner = responses[[r.status_code for r in responses].index(200)]
    assert appointment.patient == freed.waiting[[r.status_code for r in responses].index(200)]
    assert "Booked" in winner.text

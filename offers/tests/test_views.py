"""The page's answers by state, and its rate limit (the test client: no CSRF involved)."""

from __future__ import annotations

import pytest

from offers import views
from offers.tests.conftest import free_a_slot

pytestmark = pytest.mark.django_db
URL = "/offers/accept"


def test_a_get_never_books_whatever_it_carries(client, small_clinic, no_hub):
    freed = free_a_slot(small_clinic, waiting=1)
    token = freed.tokens()[freed.waiting[0].code]
    response = client.get(URL, {"token": token, "csrfmiddlewaretoken": "x"})
    assert response.status_code == 200 and b"Book this time" in response.content
    assert freed.offer_of(freed.waiting[0]).status == "offered"


def test_other_methods_are_refused(client):
    assert client.put(URL).status_code == 405
    assert client.delete(URL).status_code == 405


def test_an_address_that_asks_too_often_is_slowed_down(client, monkeypatch):
    monkeypatch.setattr(views, "RATE_PER_MINUTE", 3)
    monkeypatch.setattr(views, "_minute", lambda: 1)  # no minute boundary in the middle
    answers = [client.get(URL, {"token": "guess"}).status_code for _ in range(4)]
    assert answers == [404, 404, 404, 429]
    response = client.get(URL, {"token": "guess"}, REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 404  # another address is not held up
    assert b"Too many requests" in client.get(URL, {"token": "guess"}).content

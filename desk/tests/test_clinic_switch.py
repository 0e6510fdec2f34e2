"""A member of several clinics chooses the clinic the desk works for; nobody else sees a
choice, and nobody can choose a clinic they do not work for."""

from __future__ import annotations

import pytest

from clinic.models import Clinic, Membership
from clinic.tests.factories import ProviderFactory
from scheduling.tests import conftest as scheduling_fixtures
from scheduling.tests.conftest import make_user

small_clinic = scheduling_fixtures.small_clinic

pytestmark = pytest.mark.django_db


def title(page: str) -> str:
    return page.split("<title>")[1].split("</title>")[0]


@pytest.fixture
def hillside(small_clinic):
    other = Clinic.objects.create(code="hillside", name="Hillside Health", timezone="Europe/Berlin")
    ProviderFactory(clinic=other, code="dr-hill", name="Dr. Hill")
    return other


@pytest.fixture
def member_of_both(client, django_user_model, small_clinic, hillside):
    user = make_user(django_user_model, "both", "front_desk")
    Membership.objects.create(user=user, clinic=small_clinic["clinic"])
    Membership.objects.create(user=user, clinic=hillside)
    client.force_login(user)
    return client


def test_a_member_of_two_clinics_works_for_the_first_by_name_and_can_switch(
    member_of_both, small_clinic, hillside
):
    ours = small_clinic["clinic"]
    first, second = sorted([ours, hillside], key=lambda c: c.name)
    page = member_of_both.get("/").content.decode()
    assert f'<option value="{first.code}" selected>' in page
    assert f'<option value="{second.code}" >' in page

    response = member_of_both.post("/clinic/", {"clinic": second.code})
    assert response.status_code == 302 and response["Location"] == "/"
    page = member_of_both.get("/").content.decode()
    assert f'<option value="{second.code}" selected>' in page
    assert second.name in title(page) and first.name not in title(page)
    # The choice holds on every page.
    assert second.name in title(member_of_both.get("/waitlist/").content.decode())


def test_nobody_can_choose_a_clinic_they_do_not_work_for(client, django_user_model, small_clinic, hillside):
    user = make_user(django_user_model, "one", "front_desk")
    Membership.objects.create(user=user, clinic=small_clinic["clinic"])
    client.force_login(user)

    response = client.post("/clinic/", {"clinic": "hillside"})
    assert response.status_code == 404
    assert "Hillside" not in response.content.decode()
    page = client.get("/").content.decode()
    assert "clinic-choice" not in page  # a member of one clinic is offered no choice
    assert small_clinic["clinic"].name in page and "Hillside" not in page
    assert client.post("/clinic/", {"clinic": ""}).status_code == 400


def test_a_choice_no_longer_theirs_falls_back_to_their_clinic(member_of_both, small_clinic, hillside):
    member_of_both.post("/clinic/", {"clinic": "hillside"})
    Membership.objects.filter(clinic=hillside).delete()
    page = member_of_both.get("/").content.decode()
    assert small_clinic["clinic"].name in page and "Hillside" not in page
    assert "clinic-choice" not in page


def test_switching_needs_a_post_and_a_login(client, small_clinic, hillside):
    assert client.get("/clinic/").status_code == 405
    response = client.post("/clinic/", {"clinic": "hillside"})
    assert response.status_code == 302 and "/login/" in response["Location"]

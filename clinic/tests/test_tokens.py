"""API tokens: expiry, revocation (command and admin), and users who lose their access."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from clinic.models import ApiToken, Membership
from clinic.tests.factories import ClinicFactory, ProviderFactory
from scheduling.tests.conftest import make_user


def equipment(client, raw: str):
    return client.get("/api/v1/equipment", HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def desk(django_user_model, clinic):
    return make_user(django_user_model, "desk-t")


def test_an_expired_token_is_refused(client, desk):
    token, raw = ApiToken.issue(desk, expires_at=timezone.now() + dt.timedelta(hours=1))
    assert equipment(client, raw).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = equipment(client, raw)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_a_token_of_a_user_who_lost_staff_status_is_refused(client, desk):
    _, raw = ApiToken.issue(desk)
    desk.is_staff = False
    desk.save()
    assert equipment(client, raw).status_code == 401


def test_revoke_command_by_prefix_and_by_user(client, desk):
    first, raw_first = ApiToken.issue(desk)
    _, raw_second = ApiToken.issue(desk)
    out = StringIO()
    call_command("revoke_api_token", first.prefix, stdout=out)
    assert "Revoked 1 token(s)" in out.getvalue()
    assert equipment(client, raw_first).status_code == 401
    assert equipment(client, raw_second).status_code == 200
    call_command("revoke_api_token", "--user", desk.username, stdout=StringIO())
    assert equipment(client, raw_second).status_code == 401
    with pytest.raises(CommandError, match="No token with prefix"):
        call_command("revoke_api_token", "nothing1")
    with pytest.raises(CommandError, match="one of the two"):
        call_command("revoke_api_token")


def test_admin_revokes_tokens_and_shows_when_they_were_used(admin_client, client, desk):
    token, raw = ApiToken.issue(desk)
    assert equipment(client, raw).status_code == 200
    changelist = reverse("admin:clinic_apitoken_changelist")
    page = admin_client.get(changelist).content.decode()
    assert "Last used at" in page and token.prefix in page
    admin_client.post(changelist, {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None and token.last_used_at is not None
    assert equipment(client, raw).status_code == 401


def test_create_api_token_makes_members_links_a_provider_and_sets_expiry(client, clinic):
    hillside = ClinicFactory(code="hillside")
    ProviderFactory(clinic=clinic, code="dr-x")
    out = StringIO()
    call_command(
        "create_api_token", "doc", "--role", "clinician", "--clinic", "riverside", "--provider", "dr-x",
        "--days", "30", stdout=out,
    )  # fmt: skip
    raw = out.getvalue().strip().splitlines()[-1]
    membership = Membership.objects.get(user__username="doc")
    assert membership.clinic == clinic and membership.provider.code == "dr-x"
    token = ApiToken.objects.get(user__username="doc")
    assert dt.timedelta(days=29) < token.expires_at - timezone.now() <= dt.timedelta(days=30)
    assert "Member of: riverside as provider dr-x." in out.getvalue()
    assert equipment(client, raw).status_code == 200  # riverside, the only clinic it may see
    response = client.get("/api/v1/equipment?clinic=hillside", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 404
    assert hillside.pk  # the second clinic exists, so the membership is what grants riverside


def test_create_api_token_refuses_what_it_cannot_do(clinic):
    ClinicFactory(code="hillside")
    with pytest.raises(CommandError, match="Several clinics exist"):
        call_command("create_api_token", "x", stdout=StringIO())
    with pytest.raises(CommandError, match="No clinic with code 'nowhere'"):
        call_command("create_api_token", "x", "--clinic", "nowhere", stdout=StringIO())
    with pytest.raises(CommandError, match="No provider 'dr-none'"):
        call_command(
            "create_api_token", "x", "--clinic", "riverside", "--provider", "dr-none", stdout=StringIO()
        )
    with pytest.raises(CommandError, match="--days must be 1 or more"):
        call_command("create_api_token", "x", "--clinic", "riverside", "--days", "0", stdout=StringIO())


def test_a_user_of_no_clinic_is_told_so_when_the_deployment_has_several(client, desk, clinic):
    _, raw = ApiToken.issue(desk)
    assert equipment(client, raw).status_code == 200  # the only clinic: works for it
    ClinicFactory(code="hillside")
    response = equipment(client, raw)
    assert response.status_code == 404
    assert "not a member of any clinic" in response.json()["error"]["message"]

"""create_api_token, create_demo_login and the role groups they rely on."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.http import HttpRequest

from clinic.models import ApiToken
from clinic.roles import ADMIN, CLINICIAN, FRONT_DESK, ROLES

pytestmark = pytest.mark.django_db
User = get_user_model()


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue().splitlines()


def role_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


# --- create_api_token ---------------------------------------------------------------------


def test_create_api_token_creates_a_staff_user_without_password_in_front_desk():
    run("create_api_token", "robot")

    user = User.objects.get(username="robot")
    assert user.is_staff
    assert not user.is_superuser
    assert not user.has_usable_password()
    assert role_names(user) == {FRONT_DESK}


def test_create_api_token_prints_the_raw_token_alone_on_the_last_line():
    lines = run("create_api_token", "robot")

    raw = lines[-1]
    assert len(lines) > 1
    assert raw == raw.strip() and " " not in raw and len(raw) >= 40


def test_only_a_sha256_of_the_token_is_stored_and_matching_finds_it():
    raw = run("create_api_token", "robot")[-1]

    token = ApiToken.objects.get(user__username="robot")
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.key_hash != raw
    assert token.prefix == raw[:8]
    assert list(ApiToken.objects.matching(raw)) == [token]
    assert not ApiToken.objects.matching(raw + "x").exists()


def test_a_second_call_issues_a_second_token_for_the_same_user():
    first = run("create_api_token", "robot")[-1]
    second = run("create_api_token", "robot")[-1]

    assert first != second
    assert User.objects.filter(username="robot").count() == 1
    assert ApiToken.objects.filter(user__username="robot").count() == 2
    assert ApiToken.objects.matching(first).exists()
    assert ApiToken.objects.matching(second).exists()


@pytest.mark.parametrize("role", ROLES)
def test_create_api_token_puts_the_user_in_the_given_role(role):
    run("create_api_token", "robot", "--role", role)

    assert role_names(User.objects.get(username="robot")) == {role}


def test_an_existing_users_roles_are_kept_without_role_and_extended_with_one():
    run("create_api_token", "boss", "--role", ADMIN)
    run("create_api_token", "boss")
    boss = User.objects.get(username="boss")
    assert role_names(boss) == {ADMIN}

    run("create_api_token", "boss", "--role", CLINICIAN)
    assert role_names(boss) == {ADMIN, CLINICIAN}


def test_an_existing_user_keeps_their_password_and_becomes_staff():
    user = User.objects.create_user(username="jo", password="s3cret-pass!")

    run("create_api_token", "jo")

    user.refresh_from_db()
    assert user.is_staff
    assert user.check_password("s3cret-pass!")


def test_an_unknown_role_is_refused_and_nothing_is_created():
    with pytest.raises(CommandError, match="Unknown role 'doctor'.*front_desk, clinician, admin"):
        run("create_api_token", "robot", "--role", "doctor")

    assert not User.objects.filter(username="robot").exists()
    assert not ApiToken.objects.exists()


def test_missing_role_groups_are_recreated():
    Group.objects.all().delete()

    run("create_api_token", "robot", "--role", CLINICIAN)

    assert set(Group.objects.values_list("name", flat=True)) == set(ROLES)
    assert User.objects.get(username="robot").has_perm("scheduling.change_appointment")


# --- create_demo_login ----------------------------------------------------------------------


@pytest.fixture
def debug(settings):
    """The demo commands run only with DEBUG on (test_security_settings checks the refusal)."""
    settings.DEBUG = True


@pytest.mark.usefixtures("debug")
def test_create_demo_login_creates_both_logins_and_prints_them():
    out = "\n".join(run("create_demo_login"))

    frontdesk = User.objects.get(username="frontdesk")
    admin = User.objects.get(username="admin")
    assert frontdesk.check_password("demo-frontdesk")
    assert frontdesk.is_staff and not frontdesk.is_superuser
    assert role_names(frontdesk) == {FRONT_DESK}
    assert admin.check_password("demo-admin")
    assert admin.is_staff and admin.is_superuser
    for text in ("frontdesk", "demo-frontdesk", "admin", "demo-admin"):
        assert text in out
    assert "http://127.0.0.1:8000/admin/" in out


@pytest.mark.usefixtures("debug")
def test_create_demo_login_is_idempotent_and_resets_passwords():
    run("create_demo_login")
    frontdesk = User.objects.get(username="frontdesk")
    frontdesk.set_password("changed")
    frontdesk.is_active = False
    frontdesk.save()

    out = "\n".join(run("create_demo_login"))

    assert User.objects.filter(username__in=["frontdesk", "admin"]).count() == 2
    frontdesk.refresh_from_db()
    assert frontdesk.is_active
    assert frontdesk.check_password("demo-frontdesk")
    assert role_names(frontdesk) == {FRONT_DESK}
    assert "reset" in out


@pytest.mark.usefixtures("debug")
def test_the_demo_logins_can_sign_in_to_the_admin(client):
    run("create_demo_login")

    for username, password in (("frontdesk", "demo-frontdesk"), ("admin", "demo-admin")):
        # The login throttle (django-axes) needs the request authenticate() is called for.
        assert client.login(request=HttpRequest(), username=username, password=password)
        assert client.get("/admin/").status_code == 200
        client.logout()


# --- roles --------------------------------------------------------------------------------


def test_the_migration_creates_the_three_role_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)


@pytest.mark.parametrize(
    ("role", "perm", "allowed"),
    [
        (FRONT_DESK, "scheduling.add_appointment", True),
        (FRONT_DESK, "scheduling.change_appointment", True),
        (FRONT_DESK, "clinic.add_patient", True),
        (FRONT_DESK, "scheduling.add_waitlistentry", True),
        (FRONT_DESK, "clinic.view_provider", True),
        (FRONT_DESK, "clinic.delete_provider", False),
        (FRONT_DESK, "clinic.change_room", False),
        (FRONT_DESK, "scheduling.delete_appointment", False),
        (FRONT_DESK, "clinic.view_apitoken", False),
        (CLINICIAN, "scheduling.view_appointment", True),
        (CLINICIAN, "scheduling.change_appointment", True),
        (CLINICIAN, "scheduling.add_appointment", False),
        (CLINICIAN, "clinic.add_patient", False),
        (ADMIN, "clinic.delete_provider", True),
        (ADMIN, "clinic.change_clinic", True),
        (ADMIN, "clinic.delete_apitoken", True),
        (ADMIN, "scheduling.add_appointment", True),
        (ADMIN, "scheduling.view_appointmenthistory", True),
        (ADMIN, "scheduling.change_appointmenthistory", False),
        (ADMIN, "scheduling.delete_appointmenthistory", False),
    ],
)
def test_role_permissions(role, perm, allowed):
    user = User.objects.create_user(username=f"u-{role}", is_staff=True)
    user.groups.add(Group.objects.get(name=role))

    assert user.has_perm(perm) is allowed


@pytest.mark.usefixtures("debug")
def test_create_demo_login_adds_a_clinician_who_is_the_clinics_first_provider(clinic):
    from clinic.models import Membership
    from clinic.roles import CLINICIAN
    from clinic.tests.factories import ProviderFactory

    ProviderFactory(clinic=clinic, code="dr-b", name="Dr. B")
    ProviderFactory(clinic=clinic, code="dr-a", name="Dr. A")
    out = "\n".join(run("create_demo_login"))
    clinician = User.objects.get(username="clinician")
    assert clinician.check_password("demo-clinician") and role_names(clinician) == {CLINICIAN}
    assert Membership.objects.get(user=clinician).provider.code == "dr-a"
    assert "clinician / demo-clinician" in out and "Dr. A" in out

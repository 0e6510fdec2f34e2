"""Working windows of one provider and weekday never overlap: refused by model validation,
by the admin (its own page and the provider's inline) and by PostgreSQL itself."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from clinic.models import WorkingHours
from clinic.tests.factories import ProviderFactory, WorkingHoursFactory

pytestmark = pytest.mark.django_db

MONDAY, TUESDAY = 0, 1


def clock(value: str) -> dt.time:
    return dt.time.fromisoformat(value)


def hours(provider, start: str, end: str, weekday: int = MONDAY) -> WorkingHours:
    return WorkingHours(provider=provider, weekday=weekday, start=clock(start), end=clock(end))


@pytest.fixture
def provider(clinic):
    provider = ProviderFactory(clinic=clinic, code="dr-a")
    WorkingHoursFactory(provider=provider, weekday=MONDAY, start=clock("08:00"), end=clock("10:00"))
    return provider


def insert_now(row: WorkingHours) -> None:
    """Insert and have the (deferred) constraint judge it at once, as a commit would."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS working_hours_no_overlap IMMEDIATE")
        row.save()


OVERLAPPING = [
    ("09:00", "11:00"),
    ("07:00", "08:30"),
    ("08:00", "10:00"),
    ("08:30", "09:00"),
    ("07:00", "12:00"),
]
ACCEPTED = [("10:00", "12:00"), ("06:00", "08:00"), ("13:00", "17:00")]


@pytest.mark.parametrize(("start", "end"), OVERLAPPING)
def test_the_database_refuses_overlapping_hours(provider, start, end):
    with pytest.raises(IntegrityError, match="working_hours_no_overlap"):
        insert_now(hours(provider, start, end))


@pytest.mark.parametrize(("start", "end"), ACCEPTED)
def test_the_database_accepts_touching_and_separate_hours(provider, start, end):
    insert_now(hours(provider, start, end))


def test_the_database_accepts_the_same_hours_on_another_day_or_provider(provider, clinic):
    insert_now(hours(provider, "09:00", "11:00", weekday=TUESDAY))
    insert_now(hours(ProviderFactory(clinic=clinic), "09:00", "11:00"))


@pytest.mark.django_db(transaction=True)
def test_the_constraint_judges_the_committed_rows_not_each_step(clinic):
    provider = ProviderFactory(clinic=clinic)
    early = WorkingHoursFactory(provider=provider, start=clock("08:00"), end=clock("10:00"))
    late = WorkingHoursFactory(provider=provider, start=clock("10:00"), end=clock("12:00"))

    with transaction.atomic():  # a swap overlaps half-way through
        WorkingHours.objects.filter(pk=early.pk).update(start=clock("10:00"), end=clock("12:00"))
        WorkingHours.objects.filter(pk=late.pk).update(start=clock("08:00"), end=clock("10:00"))

    with pytest.raises(IntegrityError, match="working_hours_no_overlap"):
        with transaction.atomic():
            hours(provider, "09:00", "11:00").save()
    assert WorkingHours.objects.filter(provider=provider).count() == 2


@pytest.mark.parametrize(("start", "end"), OVERLAPPING)
def test_model_validation_names_the_overlapped_window(provider, start, end):
    with pytest.raises(ValidationError) as refused:
        hours(provider, start, end).full_clean()

    assert refused.value.message_dict == {
        "start": [
            "These hours overlap Monday 08:00-10:00: the windows of one day must not overlap"
            " (a gap between two windows is a break)."
        ]
    }


@pytest.mark.parametrize(("start", "end"), ACCEPTED)
def test_model_validation_accepts_touching_and_separate_hours(provider, start, end):
    hours(provider, start, end).full_clean()


def test_a_window_does_not_overlap_itself_when_edited(provider):
    window = provider.working_hours.get()
    window.end = clock("11:00")

    window.full_clean()


def test_model_validation_refuses_an_end_before_the_start(provider):
    with pytest.raises(ValidationError) as refused:
        hours(provider, "12:00", "11:00").full_clean()

    assert refused.value.message_dict == {"end": ["The end must be after the start."]}


def test_the_admin_page_shows_the_overlap_and_saves_nothing(admin_client, provider):
    response = admin_client.post(
        reverse("admin:clinic_workinghours_add"),
        {"provider": provider.pk, "weekday": MONDAY, "start": "09:00", "end": "11:00"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "start": [
            "These hours overlap Monday 08:00-10:00: the windows of one day must not overlap"
            " (a gap between two windows is a break)."
        ]
    }
    assert provider.working_hours.count() == 1


def inline_post(provider, rows: list[tuple[int | None, str, str, bool]]) -> dict[str, object]:
    """The provider's change form with these working-hours rows (pk, start, end, delete)."""
    data: dict[str, object] = {
        "clinic": provider.clinic_id,
        "code": provider.code,
        "name": provider.name,
        "working_hours-TOTAL_FORMS": len(rows),
        "working_hours-INITIAL_FORMS": sum(1 for pk, *_ in rows if pk),
        "time_off-TOTAL_FORMS": 0,
        "time_off-INITIAL_FORMS": 0,
    }
    for i, (pk, start, end, delete) in enumerate(rows):
        prefix = f"working_hours-{i}-"
        data |= {prefix + "id": pk or "", prefix + "provider": provider.pk, prefix + "weekday": MONDAY}
        data |= {prefix + "start": start, prefix + "end": end}
        if delete:
            data[prefix + "DELETE"] = "on"
    return data


def saved_hours(rows) -> list[tuple[str, str]]:
    return [(f"{w.start:%H:%M}", f"{w.end:%H:%M}") for w in rows.order_by("start")]


def test_the_provider_inline_refuses_two_new_rows_that_overlap(admin_client, clinic):
    provider = ProviderFactory(clinic=clinic)
    url = reverse("admin:clinic_provider_change", args=[provider.pk])

    response = admin_client.post(
        url, inline_post(provider, [(None, "08:00", "10:00", False), (None, "09:00", "11:00", False)])
    )

    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert [form.errors for form in formset.forms] == [
        {},
        {
            "start": [
                "These hours overlap Monday 08:00-10:00: the windows of one day must not overlap"
                " (a gap between two windows is a break)."
            ]
        },
    ]
    assert saved_hours(provider.working_hours.all()) == []


def test_the_provider_inline_refuses_a_new_row_over_a_saved_one(admin_client, provider):
    saved = provider.working_hours.get()
    url = reverse("admin:clinic_provider_change", args=[provider.pk])

    response = admin_client.post(
        url, inline_post(provider, [(saved.pk, "08:00", "10:00", False), (None, "09:00", "11:00", False)])
    )

    assert response.status_code == 200
    assert "These hours overlap Monday 08:00-10:00" in response.content.decode()
    assert saved_hours(provider.working_hours.all()) == [("08:00", "10:00")]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [("08:00", "09:00", False), (None, "09:00", "11:00", False)],
            [("08:00", "09:00"), ("09:00", "11:00")],
            id="shorten-and-add",
        ),
        pytest.param(
            [("08:00", "10:00", True), (None, "09:00", "11:00", False)],
            [("09:00", "11:00")],
            id="delete-and-add",
        ),
    ],
)
def test_the_provider_inline_judges_the_rows_as_they_will_be_saved(admin_client, provider, rows, expected):
    saved = provider.working_hours.get()
    first, *rest = rows
    url = reverse("admin:clinic_provider_change", args=[provider.pk])

    response = admin_client.post(url, inline_post(provider, [(saved.pk, *first), *rest]))

    assert response.status_code == 302, response.context and [
        f.errors for f in response.context["inline_admin_formsets"][0].formset.forms
    ]
    assert saved_hours(provider.working_hours.all()) == expected


@pytest.mark.django_db(transaction=True)
def test_the_provider_inline_can_swap_two_windows(admin_client, provider):
    early = provider.working_hours.get()
    late = WorkingHoursFactory(provider=provider, weekday=MONDAY, start=clock("10:00"), end=clock("12:00"))
    url = reverse("admin:clinic_provider_change", args=[provider.pk])
    rows = [(early.pk, "10:00", "12:00", False), (late.pk, "08:00", "10:00", False)]

    response = admin_client.post(url, inline_post(provider, rows))

    assert response.status_code == 302
    assert WorkingHours.objects.get(pk=early.pk).start == clock("10:00")
    assert WorkingHours.objects.get(pk=late.pk).start == clock("08:00")


def test_the_migration_merges_hours_that_overlap_before_adding_the_constraint(clinic):
    provider = ProviderFactory(clinic=clinic)
    other = ProviderFactory(clinic=clinic)
    # The constraint is deferred: inside this (rolled back) test transaction it never fires.
    for start, end in [("08:00", "10:00"), ("09:00", "11:00"), ("10:30", "12:00"), ("13:00", "14:00")]:
        hours(provider, start, end).save()
    hours(provider, "09:00", "10:00", weekday=TUESDAY).save()
    hours(other, "09:00", "10:00").save()
    migration = importlib.import_module("clinic.migrations.0003_working_hours_no_overlap")

    migration.merge_overlapping_hours(apps, None)

    assert saved_hours(provider.working_hours.filter(weekday=MONDAY)) == [
        ("08:00", "12:00"),
        ("13:00", "14:00"),
    ]
    assert saved_hours(provider.working_hours.filter(weekday=TUESDAY)) == [("09:00", "10:00")]
    assert saved_hours(other.working_hours.all()) == [("09:00", "10:00")]

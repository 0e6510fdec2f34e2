"""Every change to an appointment or a waitlist entry, from any door, is in its history
(issue 14, item 6): the admin's note edit and the admin's waitlist changes go through
services that record them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from scheduling import services
from scheduling.models import AppointmentHistory, WaitlistEntry, WaitlistHistory
from scheduling.tests.factories import AppointmentFactory, WaitlistEntryFactory


def change_url(obj) -> str:
    return reverse(f"admin:scheduling_{obj._meta.model_name}_change", args=[obj.pk])


# A transactional test: the admin's form runs outside any test transaction, as in
# production, so a durable service nested in the admin's own transaction would fail here.
@pytest.mark.django_db(transaction=True)
def test_editing_the_note_in_the_admin_writes_history(admin_client, admin_user, clinic):
    appointment = AppointmentFactory(clinic=clinic, note="old")

    response = admin_client.post(
        change_url(appointment),
        {"note": "Bring previous ECG", "history-TOTAL_FORMS": "0", "history-INITIAL_FORMS": "0"},
    )

    assert response.status_code == 302, response.content
    appointment.refresh_from_db()
    assert appointment.note == "Bring previous ECG"
    row = AppointmentHistory.objects.get(appointment=appointment)
    assert (row.action, row.actor, row.changes) == (
        "note",
        admin_user,
        {"note": ["old", "Bring previous ECG"]},
    )


@pytest.mark.django_db
def test_saving_the_same_note_records_nothing(clinic):
    appointment = AppointmentFactory(clinic=clinic, note="same")

    services.appointment_update_note(appointment_id=appointment.pk, note="same")
    services.appointment_update_note(appointment_id=appointment.pk, note="other", clinic=clinic)

    assert [h.changes for h in AppointmentHistory.objects.filter(appointment=appointment)] == [
        {"note": ["same", "other"]}
    ]


@pytest.mark.django_db(transaction=True)
def test_adding_a_waitlist_entry_in_the_admin_goes_through_the_service(admin_client, admin_user, clinic):
    template = WaitlistEntryFactory(clinic=clinic)  # for its patient and type
    url = reverse("admin:scheduling_waitlistentry_add")

    response = admin_client.post(
        url,
        {
            "clinic": clinic.pk,
            "patient": template.patient.pk,
            "appointment_type": template.appointment_type.pk,
            "earliest": "2027-03-01",
            "latest": "2027-03-05",
            "note": "mornings",
            "history-TOTAL_FORMS": "0",
            "history-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content
    entry = WaitlistEntry.objects.exclude(pk=template.pk).get()
    assert entry.note == "mornings"
    row = WaitlistHistory.objects.get(entry=entry)
    assert (row.action, row.actor, row.changes["latest"]) == ("added", admin_user, "2027-03-05")


@pytest.mark.django_db(transaction=True)
def test_a_waitlist_entry_changes_in_the_admin_only_by_closing_it(admin_client, admin_user, clinic):
    entry = WaitlistEntryFactory(clinic=clinic)

    edited = admin_client.post(
        change_url(entry),
        {
            "latest": "2027-12-31",
            "status": "closed",
            "history-TOTAL_FORMS": "0",
            "history-INITIAL_FORMS": "0",
        },
    )
    assert edited.status_code == 302
    entry.refresh_from_db()
    assert (str(entry.latest), entry.status) == ("2027-03-31", "open")
    assert not WaitlistHistory.objects.exists()

    closed = admin_client.post(
        reverse("admin:scheduling_waitlistentry_changelist"),
        {"action": "close_entries", "_selected_action": [entry.pk]},
    )

    assert closed.status_code == 302
    entry.refresh_from_db()
    assert (entry.status, entry.close_reason) == ("closed", "closed in the admin")
    row = WaitlistHistory.objects.get(entry=entry)
    assert (row.action, row.actor) == ("closed", admin_user)


@pytest.mark.django_db
def test_the_waitlist_entry_page_shows_its_history(admin_client, admin_user, clinic):
    entry = WaitlistEntryFactory(clinic=clinic)
    services.waitlist_close(entry_id=entry.pk, clinic=clinic, reason="moved away", actor=admin_user)

    content = admin_client.get(change_url(entry)).content.decode()

    assert "moved away" in content and 'name="history-TOTAL_FORMS"' in content

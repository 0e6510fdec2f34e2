"""The waitlist: entries close by hand through the API and the service, and every change
to an entry is in its history (issue 14, items 6 and 7)."""

from __future__ import annotations

import pytest

from clinic.errors import InvalidTransition, NotFound
from clinic.models import ApiToken
from clinic.tests.factories import ClinicFactory
from scheduling import services
from scheduling.models import WaitlistEntry, WaitlistHistory
from scheduling.tests.factories import WaitlistEntryFactory

from .conftest import make_user
from .test_api_appointments import booking

pytestmark = pytest.mark.django_db


def add(small_clinic, call, patient: str = "p-3") -> dict:
    day = str(small_clinic["day"])
    response = call(
        "post",
        "/api/v1/waitlist",
        {"patient": patient, "appointment_type": "consult", "earliest": day, "latest": day},
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_closing_an_entry_through_the_api_keeps_it_with_its_history(small_clinic, call, desk):
    entry = add(small_clinic, call)

    response = call("post", f"/api/v1/waitlist/{entry['id']}/close", {"reason": "found a place elsewhere"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["close_reason"]) == (
        entry["id"],
        "closed",
        "found a place elsewhere",
    )
    assert body["closed_at"] is not None
    assert call("get", "/api/v1/waitlist").json() == []
    history = list(WaitlistHistory.objects.filter(entry_id=entry["id"]).order_by("at", "pk"))
    assert [(h.action, h.actor) for h in history] == [("added", desk), ("closed", desk)]
    assert history[1].changes == {"status": ["open", "closed"], "reason": "found a place elsewhere"}


def test_closing_needs_no_reason(small_clinic, call):
    entry = add(small_clinic, call)

    response = call("post", f"/api/v1/waitlist/{entry['id']}/close", {})

    assert response.status_code == 200 and response.json()["close_reason"] == ""


def test_closing_a_closed_entry_is_an_invalid_transition(small_clinic, call):
    entry = add(small_clinic, call)
    call("post", f"/api/v1/waitlist/{entry['id']}/close", {"reason": "no"})

    again = call("post", f"/api/v1/waitlist/{entry['id']}/close", {"reason": "no"})

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    assert WaitlistHistory.objects.filter(entry_id=entry["id"], action="closed").count() == 1


def test_an_unknown_or_foreign_entry_is_not_found(small_clinic, call):
    foreign = WaitlistEntryFactory(clinic=ClinicFactory(code="elsewhere"))

    for entry_id in (999999, foreign.pk):
        response = call("post", f"/api/v1/waitlist/{entry_id}/close?clinic=riverside", {"reason": ""})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert call("post", "/api/v1/waitlist/abc/close", {}).status_code == 422


def test_a_reason_too_long_is_a_validation_error(small_clinic, call):
    entry = add(small_clinic, call)

    response = call("post", f"/api/v1/waitlist/{entry['id']}/close", {"reason": "x" * 201})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_a_clinician_may_not_close_entries(small_clinic, call, django_user_model):
    entry = add(small_clinic, call)
    token = ApiToken.issue(make_user(django_user_model, "doc", "clinician"))[1]

    response = call("post", f"/api/v1/waitlist/{entry['id']}/close", {}, token=token)

    assert response.status_code == 403
    assert WaitlistEntry.objects.get(pk=entry["id"]).status == "open"


def test_the_close_endpoint_is_in_the_openapi_schema(small_clinic, call):
    paths = call("get", "/api/v1/openapi.json").json()["paths"]

    assert "post" in paths["/api/v1/waitlist/{entry_id}/close"]


def test_the_services_take_the_actor_as_the_front_desk_calls_them(small_clinic, desk):
    clinic = small_clinic["clinic"]
    entry = services.waitlist_add(
        clinic=clinic,
        patient=small_clinic["patients"][2],
        appointment_type=small_clinic["consult"],
        earliest=small_clinic["day"],
        latest=small_clinic["day"],
        actor=desk,
    )
    closed = services.waitlist_close(entry_id=entry.pk, clinic=clinic, reason="moved away", actor=desk)

    assert (closed.status, closed.close_reason) == ("closed", "moved away")
    assert [(h.action, h.actor) for h in entry.history.order_by("at", "pk")] == [
        ("added", desk),
        ("closed", desk),
    ]
    with pytest.raises(InvalidTransition):
        services.waitlist_close(entry_id=entry.pk, clinic=clinic, actor=desk)
    with pytest.raises(NotFound):
        services.waitlist_close(entry_id=entry.pk, clinic=ClinicFactory(code="other"), actor=desk)


def test_booking_the_type_closes_the_entry_in_its_history(small_clinic, call, desk):
    entry = add(small_clinic, call)

    appointment = call("post", "/api/v1/appointments", booking(small_clinic, patient="p-3")).json()

    last = WaitlistHistory.objects.filter(entry_id=entry["id"]).order_by("at", "pk").last()
    assert (last.action, last.actor) == ("closed", desk)
    assert last.changes == {"status": ["open", "closed"], "closed_by": appointment["id"]}
    assert WaitlistEntry.objects.get(pk=entry["id"]).closed_by_id == appointment["id"]

"""GET /api/v1/appointments in pages: limit, offset, total and next, as api.md says
(issue 14, item 8)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

from scheduling.models import Appointment, AppointmentStatus

pytestmark = pytest.mark.django_db


def cancelled_appointments(small_clinic, count: int) -> list[int]:
    """``count`` cancelled consults a minute apart (cancelled rows hold no time, so the
    exclusion constraints let them pile up)."""
    start = dt.datetime.combine(small_clinic["day"], dt.time(8), tzinfo=small_clinic["clinic"].tz)
    rows = [
        Appointment(
            clinic=small_clinic["clinic"],
            patient=small_clinic["patients"][i % 20],
            appointment_type=small_clinic["consult"],
            provider=small_clinic["providers"][i % 2],
            room=small_clinic["rooms"][0],
            start=start + dt.timedelta(minutes=i),
            end=start + dt.timedelta(minutes=i + 30),
            blocked_start=start + dt.timedelta(minutes=i),
            blocked_end=start + dt.timedelta(minutes=i + 30),
            status=AppointmentStatus.CANCELLED,
        )
        for i in range(count)
    ]
    return [a.pk for a in Appointment.objects.bulk_create(rows)]


def test_more_than_a_thousand_appointments_are_counted_and_reachable(small_clinic, call):
    ids = cancelled_appointments(small_clinic, 1001)

    first = call("get", "/api/v1/appointments").json()

    assert first["total"] == 1001
    assert len(first["appointments"]) == 100  # the default limit
    assert first["next"] is not None
    last = call("get", "/api/v1/appointments?limit=1000&offset=1000").json()
    assert [a["id"] for a in last["appointments"]] == [ids[-1]]
    assert last["next"] is None


def test_following_next_walks_every_page_in_start_order_keeping_the_filters(small_clinic, call):
    ids = cancelled_appointments(small_clinic, 7)
    dr_a = [pk for i, pk in enumerate(ids) if i % 2 == 0]

    seen: list[int] = []
    url: str | None = "/api/v1/appointments?provider=dr-a&limit=2"
    pages = 0
    while url:
        body = call("get", url).json()
        assert body["total"] == 4
        seen += [a["id"] for a in body["appointments"]]
        url = body["next"]
        if url:
            query = parse_qs(urlsplit(url).query)
            assert query["provider"] == ["dr-a"] and query["limit"] == ["2"]
            assert url.startswith("http://testserver/api/v1/appointments?")
        pages += 1

    assert seen == dr_a and pages == 2


def test_an_offset_past_the_end_is_an_empty_last_page(small_clinic, call):
    cancelled_appointments(small_clinic, 3)

    body = call("get", "/api/v1/appointments?offset=10").json()

    assert body == {"appointments": [], "total": 3, "next": None}


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "offset=-1", "limit=x", "offset=99999999999"])
def test_out_of_range_paging_is_a_validation_error(small_clinic, call, query):
    response = call("get", f"/api/v1/appointments?{query}")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"

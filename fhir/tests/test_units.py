"""The FHIR door's pure parts, without a database: ids, date search values, patches."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from clinic.errors import BadRequest, ValidationFailed
from fhir.ids import FHIR_ID, SlotKey, code_id, id_code
from fhir.params import Range, Search, date_range, reference_id, token
from fhir.patch import apply

BERLIN = ZoneInfo("Europe/Berlin")
CODES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True)


@given(CODES)
def test_every_code_has_a_fhir_id_that_gives_it_back(code):
    assert FHIR_ID.fullmatch(code_id(code))
    assert id_code(code_id(code)) == code


def test_ids_no_code_could_have_name_nothing():
    assert id_code("Clinic") is None
    assert id_code("-x") is None


@given(
    st.integers(1, 10**14 - 1),
    st.integers(1, 10**14 - 1),
    st.integers(1, 10**14 - 1),
    st.datetimes(dt.datetime(1970, 1, 2), dt.datetime(2990, 1, 1), timezones=st.just(dt.UTC)),
    st.integers(0, 999),
)
def test_a_slot_id_names_provider_room_type_start_and_seat_exactly(provider, room, kind, start, seat):
    """Within 64 characters even at the ends: keys of 14 digits, a start off the minute."""
    key = SlotKey(provider, room, kind, start.replace(microsecond=0), seat)
    assert FHIR_ID.fullmatch(key.id), key.id
    assert SlotKey.parse(key.id) == key


@pytest.mark.parametrize(
    "text", ["", "1-2-3-4", "1-2-3-4-5-6", "01-2-3-4-5", "1-2-3-4.60-0", "a-b-c-d-e", "1-2-3-4-1000"]
)
def test_what_is_not_a_slot_id(text):
    assert SlotKey.parse(text) is None


def search(query: str) -> Search:
    return Search(RequestFactory().get(f"/fhir/Slot?{query}"), ("start", "name"))


def at(*parts: int, tz=BERLIN) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=tz).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("start=2027-03-08", Range(at(2027, 3, 8), at(2027, 3, 9))),
        ("start=eq2027-03", Range(at(2027, 3, 1), at(2027, 4, 1))),
        ("start=eq2027", Range(at(2027, 1, 1), at(2028, 1, 1))),
        ("start=ge2027-03-08&start=lt2027-03-10", Range(at(2027, 3, 8), at(2027, 3, 10))),
        ("start=gt2027-03-08&start=le2027-03-10", Range(at(2027, 3, 9), at(2027, 3, 11))),
        ("start=ge2027-03-08T09:00:00Z", Range(at(2027, 3, 8, 9, tz=dt.UTC), None)),
        ("start=lt2027-03-08T09:30%2B01:00", Range(None, at(2027, 3, 8, 9, 30))),
        ("start=ge2027-03-08T09:30", Range(at(2027, 3, 8, 9, 30), None)),  # the clinic's clock
        ("start=sa2027-03-08&start=eb2027-03-20", Range(at(2027, 3, 9), at(2027, 3, 20))),
        # The last Sunday of March: a day of 23 hours in Berlin.
        ("start=2027-03-28", Range(at(2027, 3, 28), at(2027, 3, 29))),
        ("", Range()),
    ],
)
def test_date_search_values_are_ranges_of_instants(query, expected):
    assert date_range(search(query), "start", BERLIN) == expected


@pytest.mark.parametrize(
    "query",
    [
        "start=ne2027-03-08",
        "start=ap2027-03-08",
        "start=2027-02-30",
        "start=soon",
        "start=1800-01-01",
        "start=2027-03-08,2027-03-09",
    ],
)
def test_date_search_values_that_are_refused(query):
    with pytest.raises(BadRequest):
        date_range(search(query), "start", BERLIN)


def test_tokens_and_references():
    assert token("consult") == "consult"
    assert token("|consult", "http://x") == "consult"
    assert token("http://x|consult", "http://x") == "consult"
    assert token("http://y|consult", "http://x") is None
    assert reference_id("Schedule/dr-a", "Schedule") == "dr-a"
    assert reference_id("dr-a", "Schedule") == "dr-a"
    assert reference_id("https://host/fhir/Schedule/dr-a", "Schedule") == "dr-a"
    assert reference_id("Practitioner/dr-a", "Schedule") is None


def test_comma_values_are_ored_and_repeats_anded():
    s = search("name=a,b%5C,c&name=d")
    assert s.values("name") == [["a", "b,c"], ["d"]]
    with pytest.raises(BadRequest):
        s.one("name")


RESOURCE = {"resourceType": "Appointment", "id": "1", "status": "booked", "participant": [{"a": 1}, {"b": 2}]}


def test_json_patch_operations():
    assert (
        apply(RESOURCE, [{"op": "replace", "path": "/status", "value": "cancelled"}])["status"] == "cancelled"
    )
    assert apply(RESOURCE, [{"op": "add", "path": "/participant/-", "value": {"c": 3}}])["participant"][
        -1
    ] == {"c": 3}
    assert apply(RESOURCE, [{"op": "add", "path": "/participant/0", "value": 0}])["participant"][0] == 0
    assert "status" not in apply(RESOURCE, [{"op": "remove", "path": "/status"}])
    moved = apply(RESOURCE, [{"op": "move", "from": "/status", "path": "/comment"}])
    assert moved["comment"] == "booked" and "status" not in moved
    copied = apply(RESOURCE, [{"op": "copy", "from": "/participant/1", "path": "/participant/0"}])
    assert copied["participant"] == [{"b": 2}, {"a": 1}, {"b": 2}]
    escaped = apply({"a/b": {"~": 1}}, [{"op": "replace", "path": "/a~1b/~0", "value": 2}])
    assert escaped == {"a/b": {"~": 2}}
    assert RESOURCE["status"] == "booked"  # the original is left as it was


@pytest.mark.parametrize(
    ("patch", "error"),
    [
        ([{"op": "test", "path": "/status", "value": "cancelled"}], ValidationFailed),
        ([{"op": "remove", "path": "/missing"}], ValidationFailed),
        ([{"op": "replace", "path": "/participant/7", "value": 1}], ValidationFailed),
        ([{"op": "add", "path": "/participant/01", "value": 1}], ValidationFailed),
        ([{"op": "move", "from": "/participant", "path": "/participant/0"}], ValidationFailed),
        ([{"op": "replace", "path": "", "value": []}], ValidationFailed),
        ([{"op": "replace", "path": "status", "value": 1}], BadRequest),
        ([{"op": "replace", "path": "/status"}], BadRequest),
        ([{"op": "shout", "path": "/status"}], BadRequest),
        (["replace"], BadRequest),
        ({"resourceType": "Parameters"}, ValidationFailed),
        ("status", BadRequest),
    ],
)
def test_patches_that_are_refused(patch, error):
    with pytest.raises(error):
        apply(RESOURCE, patch)


def test_merge_patch():
    merged = apply(RESOURCE, {"status": "cancelled", "cancelationReason": {"text": "ill"}, "id": None})
    assert merged["status"] == "cancelled" and merged["cancelationReason"] == {"text": "ill"}
    assert "id" not in merged


def test_the_longest_slot_id_fits():
    key = SlotKey(10**14 - 1, 10**14 - 1, 10**14 - 1, dt.datetime(2990, 1, 1, 0, 0, 59, tzinfo=dt.UTC), 999)
    assert len(key.id) <= 64 and SlotKey.parse(key.id) == key

"""Ten FHIR bookings of one Slot at once, on a real gunicorn with four workers against the
test database: exactly one 201, nine 409 OperationOutcomes, one appointment."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from fhir.ids import SlotKey
from fhir.tests.conftest import FHIR_JSON, booking, local
from scheduling.models import Appointment
from scheduling.tests.faults.servers import gunicorn

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


def test_ten_concurrent_fhir_bookings_of_one_slot_give_one_201(tmp_path, small_clinic, desk_token):
    c = small_clinic
    slot_id = SlotKey(c["providers"][0].pk, c["rooms"][0].pk, c["consult"].pk, local(c, "09:00"), 0).id
    headers = {"Authorization": f"Bearer {desk_token}", "Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    barrier = threading.Barrier(10)

    with gunicorn(tmp_path, workers=4) as server:
        # Every worker up and warm: the race is the bookings', not the workers' start-up.
        for _ in range(8):
            requests.get(f"{server.url}/fhir/Slot/{slot_id}", headers=headers, timeout=30).raise_for_status()

        def one(patient: str) -> tuple[int, str, dict]:
            with requests.Session() as session:
                barrier.wait(timeout=30)
                response = session.post(
                    f"{server.url}/fhir/Appointment",
                    data=json.dumps(booking(slot_id, patient)),
                    headers=headers,
                    timeout=30,
                )
                return response.status_code, response.headers["Content-Type"], response.json()

        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(one, [f"p-{i}" for i in range(1, 11)]))

    assert sorted(status for status, _, _ in results) == [201] + [409] * 9, results
    assert all(kind.startswith(FHIR_JSON) for _, kind, _ in results)
    refusals = [body for status, _, body in results if status == 409]
    assert {body["resourceType"] for body in refusals} == {"OperationOutcome"}
    assert {body["issue"][0]["details"]["coding"][0]["code"] for body in refusals} == {"slot_taken"}
    assert Appointment.objects.filter(start=local(c, "09:00")).count() == 1

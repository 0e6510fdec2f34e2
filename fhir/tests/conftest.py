"""The FHIR door's fixtures: the scheduling tests' clinic, a live server, and a FHIR
client over ``requests`` as any HTTP client would talk to it (Django's test client skips
CSRF, which once hid a 403)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from clinic.models import ApiToken
from scheduling.tests.conftest import desk, desk_token, make_user, next_weekday, small_clinic  # noqa: F401

FHIR_JSON = "application/fhir+json"


class Fhir:
    """A FHIR client of the live server: ``fhir.get("Slot", params)``, ``fhir.post(...)``.
    Every answer is checked to be FHIR JSON (or NDJSON) before it is handed back."""

    def __init__(self, base: str, token: str | None) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Accept"] = FHIR_JSON
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base}/{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.session.request(method, self.url(path), timeout=30, **kwargs)
        kind = response.headers.get("Content-Type", "")
        assert kind.startswith((FHIR_JSON, "application/fhir+ndjson", "application/json")), (
            response.status_code,
            kind,
            response.text[:300],
        )
        return response

    def get(self, path: str, params: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, params=params, **kwargs)

    def post(self, path: str, body: Any, content_type: str = FHIR_JSON, **kwargs: Any) -> requests.Response:
        return self.send("POST", path, body, content_type, **kwargs)

    def put(self, path: str, body: Any, content_type: str = FHIR_JSON) -> requests.Response:
        return self.send("PUT", path, body, content_type)

    def patch(
        self, path: str, body: Any, content_type: str = "application/json-patch+json"
    ) -> requests.Response:
        return self.send("PATCH", path, body, content_type)

    def send(self, method: str, path: str, body: Any, content_type: str, **kwargs: Any) -> requests.Response:
        import json

        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
        return self.request(method, path, data=data, headers=headers, **kwargs)


@pytest.fixture
def fhir_base(live_server) -> str:
    return f"{live_server.url}/fhir"


@pytest.fixture
def fhir(fhir_base, desk_token):  # noqa: F811
    """The front desk's FHIR client."""
    client = Fhir(fhir_base, desk_token)
    yield client
    # A kept-alive connection keeps its server thread, and that thread its database
    # connection, past the test: the test database could not be dropped.
    client.session.close()


@pytest.fixture
def fhir_as(fhir_base, django_user_model):
    """fhir_as(role) -> a FHIR client of a new user with that role (None: no role)."""
    made: dict[str | None, Fhir] = {}

    def client(role: str | None) -> Fhir:
        if role not in made:
            user = make_user(django_user_model, f"fhir-{role or 'none'}", role)
            made[role] = Fhir(fhir_base, ApiToken.issue(user)[1])
        return made[role]

    yield client
    for each in made.values():
        each.session.close()


def local(clinic_setup: dict, clock: str, days: int = 0) -> dt.datetime:
    """The small clinic's bookable day (a Monday a week or more ahead) at ``clock``."""
    return dt.datetime.combine(
        clinic_setup["day"] + dt.timedelta(days=days),
        dt.time.fromisoformat(clock),
        tzinfo=clinic_setup["clinic"].tz,
    )


def slot_search(fhir: Fhir, day: dt.date, **params: Any) -> dict:
    """One day's consult Slots (or ``service-type`` given), as a Bundle."""
    query = {"service-type": "consult", "start": [f"ge{day}", f"lt{day + dt.timedelta(days=1)}"], **params}
    response = fhir.get("Slot", query)
    assert response.status_code == 200, response.text
    return response.json()


def entries(bundle: dict) -> list[dict]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


def booking(slot_id: str, patient: str = "p-1", **more: Any) -> dict:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}],
        **more,
    }


def issue_code(response: requests.Response) -> str:
    """The project's error code an OperationOutcome carries."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"][0]["details"]["coding"][0]["code"]

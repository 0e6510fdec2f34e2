"""Appointments: book a Slot (``POST``), read, search, and move through the lifecycle
(``PUT`` or ``PATCH`` of ``status``), each through the same services as the JSON API:
``appointment_book`` (its check inside the transaction and the database's exclusion
constraints: one winner per slot), ``appointment_cancel`` (backfill, events) and
``appointment_change_status``.

Refusals map as the API's do: a taken slot ``409`` (``slot_taken``), a move the lifecycle
does not allow ``409`` (``invalid_transition``), a time the engine would not offer ``422``
(``slot_unavailable``), a malformed resource ``400``/``422``, an unknown slot or patient
``404``, a role that may not ``403``, another clinic's appointment ``404``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from clinic.access import Scope
from clinic.errors import BadRequest, Forbidden, InvalidTransition, NotFound, ValidationFailed
from clinic.models import Patient
from clinic.roles import has_permission
from fhir import patch as patching
from fhir import serialize
from fhir.door import caller_scope, fhir_response, read_json
from fhir.ids import APPOINTMENT_TYPE_SYSTEM, SlotKey, code_id, id_code
from fhir.params import Search, date_range, reference_code, reference_id, type_code
from fhir.slots import slot_objects
from scheduling import access, services
from scheduling.models import Appointment, AppointmentQuerySet, AppointmentStatus

S = AppointmentStatus
RELATIONS = ("clinic", "patient", "appointment_type", "provider", "room")
NOTE_LIMIT = 2000
REASON_LIMIT = 200
CANCEL = "scheduling.cancel_appointment"
CHANGE = "scheduling.change_appointment"


def _visible(caller: Scope) -> AppointmentQuerySet:
    return access.appointments(caller).select_related(*RELATIONS)


def _load(caller: Scope, fhir_id: str) -> Appointment:
    found = _visible(caller).filter(pk=int(fhir_id)).first() if _is_pk(fhir_id) else None
    if found is None:
        raise NotFound(f"No appointment with id {fhir_id!r}.")
    return found


def _is_pk(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18 and int(text) > 0


# --- Read and search ---------------------------------------------------------------------


def read(request: HttpRequest, fhir_id: str) -> HttpResponse:
    caller = caller_scope(request, "scheduling.view_appointment")
    return fhir_response(serialize.appointment(_load(caller, fhir_id)))


def search(request: HttpRequest) -> HttpResponse:
    """By ``patient``, ``actor`` (Patient, Practitioner or Location), ``practitioner``,
    ``location``, ``date`` (the start), ``status``, ``service-type``, ``slot``, ``_id``;
    ordered by start like the API's list."""
    caller = caller_scope(request, "scheduling.view_appointment")
    params = Search(
        request,
        ("_id", "patient", "actor", "practitioner", "location", "date", "status", "service-type", "slot"),
    )
    found = _visible(caller).order_by("start", "provider__code", "pk")
    for values in params.values("_id"):
        found = found.filter(pk__in=[int(v) for v in values if _is_pk(v)])
    for name, resource_type, field in (
        ("patient", "Patient", "patient__code"),
        ("practitioner", "Practitioner", "provider__code"),
        ("location", "Location", "room__code"),
    ):
        for values in params.values(name):
            found = found.filter(
                **{f"{field}__in": [c for c in (reference_code(v, resource_type) for v in values) if c]}
            )
    for values in params.values("actor"):
        found = found.filter(_actors(values))
    for values in params.values("status"):
        found = found.filter(status__in=[s for v in values for s in serialize.STATUSES_OF.get(v, ())])
    for values in params.values("service-type"):
        codes = [c for c in (type_code(v) for v in values) if c]
        found = found.filter(appointment_type__code__in=codes)
    for values in params.values("slot"):
        found = found.filter(_slots(values))
    when = date_range(params, "date", caller.clinic.tz)
    if when.after is not None:
        found = found.filter(start__gte=when.after)
    if when.before is not None:
        found = found.filter(start__lt=when.before)
    total = found.count()
    page = list(params.window(found)) if total else []
    return fhir_response(params.bundle([serialize.appointment(a) for a in page], total))


def _actors(values: list[str]) -> Any:

    q = Q(pk__in=[])
    for value in values:
        for resource_type, field in (
            ("Patient", "patient"),
            ("Practitioner", "provider"),
            ("Location", "room"),
        ):
            if "/" in value and (found := reference_id(value, resource_type)) and (code := id_code(found)):
                q |= Q(**{f"{field}__code": code})
    return q


def _slots(values: list[str]) -> Any:

    q = Q(pk__in=[])
    for value in values:
        found = reference_id(value, "Slot")
        key = SlotKey.parse(found) if found else None
        if key is not None:
            q |= Q(
                provider_id=key.provider_id,
                room_id=key.room_id,
                appointment_type_id=key.type_id,
                start=key.start,
                seat=key.seat,
            )
    return q


# --- Book --------------------------------------------------------------------------------


def _resource(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("resourceType") != "Appointment":
        raise BadRequest("The body must be an Appointment resource (resourceType Appointment).")
    return body


def _references(items: Any, field: str) -> list[str]:
    """The ``reference`` of each item of a list of References (or of participants'
    ``actor``), else 422."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValidationFailed({field: "Must be a list."})
    found = []
    for item in items:
        ref = item.get("actor", item) if isinstance(item, dict) and field.endswith("participant") else item
        text = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(text, str) or not text:
            raise ValidationFailed({field: "Each entry needs a reference (e.g. Patient/p-1)."})
        found.append(text)
    return found


def _typed(refs: list[str], resource_type: str) -> list[str]:
    return [found for found in (reference_id(r, resource_type) for r in refs if "/" in r) if found]


def create(request: HttpRequest) -> HttpResponse:
    """``POST /fhir/Appointment``: ``status: booked``, one ``slot`` and a Patient
    participant book that Slot for that patient."""
    clinic = caller_scope(request, "scheduling.add_appointment").clinic
    body = _resource(read_json(request))
    problems: dict[str, str] = {}
    if body.get("status") != "booked":
        problems["Appointment.status"] = "A new appointment's status is booked."
    slots = _references(body.get("slot"), "Appointment.slot")
    if len(slots) != 1:
        problems["Appointment.slot"] = "Name exactly one Slot to book (slot: [{reference: Slot/<id>}])."
    participants = _references(body.get("participant"), "Appointment.participant")
    patients = _typed(participants, "Patient")
    if len(patients) != 1:
        problems["Appointment.participant"] = "Name exactly one Patient participant (actor: Patient/<id>)."
    note = body.get("comment", "")
    if not isinstance(note, str) or len(note) > NOTE_LIMIT:
        problems["Appointment.comment"] = f"A text of at most {NOTE_LIMIT} characters."
    if problems:
        raise ValidationFailed(problems)
    slot_id = reference_id(slots[0], "Slot")
    if slot_id is None or "/" not in slots[0]:
        raise ValidationFailed({"Appointment.slot": "The reference must be to a Slot (Slot/<id>)."})
    key, provider, room, appointment_type = slot_objects(clinic, slot_id)
    patient_code = id_code(patients[0])
    found = Patient.objects.filter(clinic=clinic, code=patient_code).first() if patient_code else None
    if found is None:
        raise NotFound(f"No patient with id {patients[0]!r}.", field="patient")
    _agrees(
        body,
        participants,
        key,
        provider.code,
        room.code,
        appointment_type.code,
        appointment_type.duration_minutes,
    )
    appointment = services.appointment_book(
        clinic=clinic,
        patient=found,
        appointment_type=appointment_type,
        provider=provider,
        room=room,
        start=key.start,
        overbook=key.seat > 0,
        note=note,
        actor=request.user,
    )
    location = request.build_absolute_uri(reverse("fhir:appointment", args=[appointment.pk]))
    if request.GET.get("clinic"):
        location += "?" + urlencode({"clinic": request.GET["clinic"]})
    return fhir_response(serialize.appointment(appointment), 201, headers={"Location": location})


def _agrees(
    body: dict[str, Any],
    participants: list[str],
    key: SlotKey,
    provider: str,
    room: str,
    type_code: str,
    minutes: int,
) -> None:
    """What else the body says must agree with the Slot: its practitioner, room, type and
    times (all optional), else 422."""
    problems = {}
    for resource_type, code in (("Practitioner", provider), ("Location", room)):
        named = _typed(participants, resource_type)
        if any(id_code(n) != code for n in named):
            problems["Appointment.participant"] = f"The Slot is with {resource_type}/{code_id(code)}."
    types = _service_types(body.get("serviceType"))
    if types is not None and type_code not in types:
        problems["Appointment.serviceType"] = f"The Slot is for {type_code}."
    for field, expected in (("start", key.start), ("end", key.start + dt.timedelta(minutes=minutes))):
        if field in body and _instant(body[field], f"Appointment.{field}") != expected:
            problems[f"Appointment.{field}"] = f"The Slot's {field} is {expected.isoformat()}."
    if problems:
        raise ValidationFailed(problems)


def _service_types(value: Any) -> set[str] | None:
    """The appointment type codes a ``serviceType`` names (this server's system, or none)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValidationFailed({"Appointment.serviceType": "Must be a list of CodeableConcepts."})
    codes: set[str] = set()
    for concept in value:
        for coding in concept.get("coding", []) if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and coding.get("system") in (None, APPOINTMENT_TYPE_SYSTEM):
                codes.add(str(coding.get("code")).replace(".", "_"))  # a code, or its id
    return codes


def _instant(value: Any, field: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationFailed({field: "An instant with an offset or Z, e.g. 2027-03-08T09:00:00+01:00."})
    return moment


# --- Update: the lifecycle ---------------------------------------------------------------


def update(request: HttpRequest, fhir_id: str) -> HttpResponse:
    """``PUT /fhir/Appointment/<id>``: the appointment as it should be; only its status
    (with ``cancelationReason`` when cancelled) and the patient's acceptance may differ."""
    body = _resource(read_json(request))
    if body.get("id") != fhir_id:
        raise BadRequest(f"The body's id must be {fhir_id!r}, the id in the URL.")
    status = body.get("status")
    caller = caller_scope(request, CANCEL if status == "cancelled" else CHANGE)
    return _change(request, caller, _load(caller, fhir_id), body)


def patch(request: HttpRequest, fhir_id: str) -> HttpResponse:
    """``PATCH /fhir/Appointment/<id>``: a JSON Patch (``application/json-patch+json``),
    e.g. ``[{"op": "replace", "path": "/status", "value": "cancelled"}]``, or a merge
    patch object."""
    body = read_json(request, patch=True)
    caller = caller_scope(request, "scheduling.view_appointment")
    if not (has_permission(request.user, CHANGE) or has_permission(request.user, CANCEL)):
        raise Forbidden("Your role may not change appointments.")
    current = _load(caller, fhir_id)
    wanted = patching.apply(serialize.appointment(current), body)
    if wanted.get("status") == "cancelled" and not has_permission(request.user, CANCEL):
        raise Forbidden("Your role may not cancel appointments.")
    return _change(request, caller, current, wanted)


def _change(
    request: HttpRequest, caller: Scope, current: Appointment, wanted: dict[str, Any]
) -> HttpResponse:
    was = serialize.appointment(current)
    if wanted.get("resourceType") != "Appointment" or wanted.get("id") != was["id"]:
        raise ValidationFailed({"Appointment.id": "An appointment's resourceType and id cannot change."})
    _unchanged(was, wanted)
    action, reason = _action(current, was, wanted)
    if action is None:
        return fhir_response(was)
    if action == "cancel":
        if not has_permission(request.user, CANCEL):
            raise Forbidden("Your role may not cancel appointments.")
        services.appointment_cancel(
            appointment_id=current.pk, reason=reason, actor=request.user, clinic=caller.clinic
        )
    else:
        if not has_permission(request.user, CHANGE):
            raise Forbidden("Your role may not change appointments.")
        services.appointment_change_status(
            appointment_id=current.pk, action=action, actor=request.user, clinic=caller.clinic
        )
    return fhir_response(serialize.appointment(_load(caller, str(current.pk))))


MOVE = "Cannot change: book the new Slot, then cancel this appointment."
# What may differ between the appointment and the resource sent: the status, the reason
# for a cancellation, the patient's acceptance; and what the server keeps (meta, text).
MAY_DIFFER = frozenset({"status", "cancelationReason", "participant", "meta", "text"})


def _unchanged(was: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Everything else the resource says must be what the appointment is, else 422: a new
    time or provider is a new booking (book the new Slot, then cancel this one)."""
    problems = {}
    for field in sorted(set(was) | set(wanted)):
        if field in MAY_DIFFER or field not in wanted:
            continue  # a field left out is left as it is
        if field in ("start", "end"):
            if _instant(wanted[field], f"Appointment.{field}") != dt.datetime.fromisoformat(was[field]):
                problems[f"Appointment.{field}"] = MOVE
        elif wanted[field] != was.get(field):
            problems[f"Appointment.{field}"] = (
                "Cannot change through FHIR: only status (with cancelationReason) and the patient's"
                " acceptance can."
            )
    if "participant" in wanted:
        refs = {r for r in _references(wanted["participant"], "Appointment.participant")}
        if refs != {p["actor"]["reference"] for p in was["participant"]}:
            problems["Appointment.participant"] = "The participants cannot change."
    if problems:
        raise ValidationFailed(problems)


def _patient_status(resource: dict[str, Any]) -> str | None:
    for participant in resource.get("participant") or []:
        actor = participant.get("actor") if isinstance(participant, dict) else None
        if isinstance(actor, dict) and str(actor.get("reference", "")).startswith("Patient/"):
            return participant.get("status")
    return None


# The service action that brings an appointment to each FHIR status.
ACTIONS = {"checked-in": "check_in", "arrived": "check_in", "fulfilled": "complete", "noshow": "no_show"}


def _action(current: Appointment, was: dict[str, Any], wanted: dict[str, Any]) -> tuple[str | None, str]:
    """The one lifecycle move the resource asks for (None: none) and, for a cancel, why."""
    status = wanted.get("status", was["status"])
    if status not in serialize.FHIR_STATUSES:
        raise ValidationFailed({"Appointment.status": f"{status!r} is not an appointment status."})
    if status not in serialize.STATUSES_OF:
        raise ValidationFailed(
            {"Appointment.status": f"{status} is not one of this server's statuses (see its metadata)."}
        )
    if current.status in serialize.STATUSES_OF[status]:
        if status == "booked" and current.status == S.BOOKED and _patient_status(wanted) == "accepted":
            return "confirm", ""
        unconfirms = _patient_status(wanted) not in (None, "accepted")
        if status == "booked" and current.status == S.CONFIRMED and unconfirms:
            raise InvalidTransition("A confirmed appointment cannot be unconfirmed.", status=current.status)
        return None, ""
    if status == "cancelled":
        return "cancel", _reason(wanted.get("cancelationReason"))
    if status == "booked":
        raise InvalidTransition(
            f"Cannot make an appointment that is {current.get_status_display().lower()} booked again.",
            status=current.status,
        )
    return ACTIONS[status], ""


def _reason(concept: Any) -> str:
    """The words of a ``cancelationReason``: its text, else its first coding's display or code."""
    if concept is None:
        return ""
    if not isinstance(concept, dict):
        raise ValidationFailed({"Appointment.cancelationReason": 'A CodeableConcept: {"text": "ill"}.'})
    text = concept.get("text")
    if not text:
        codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
        text = (codings[0].get("display") or codings[0].get("code")) if codings else ""
    if not isinstance(text, str) or len(text) > REASON_LIMIT:
        raise ValidationFailed({"Appointment.cancelationReason": f"At most {REASON_LIMIT} characters."})
    return text

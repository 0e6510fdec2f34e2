"""Write a validated clinic file to the database, in one transaction.

Objects are matched by code and created or updated; nothing the file does not mention is
deleted. An object's list-valued attributes (a room's equipment, a provider's weekly
hours, a patient's preferred providers, ...) become exactly what the file says.
Appointments have no code: one is identified by its patient, provider and start (the
n-th file entry with that key matches the n-th stored appointment with it), a waitlist
entry by its patient and appointment type.

Unchanged rows are not written, so loading the same file twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from clinic.clinic_file.bookings import Busy, assign_seats, seat_limit
from clinic.clinic_file.spec import (
    AppointmentSpec,
    ClinicFile,
    OverbookingRuleSpec,
    WaitlistSpec,
)
from clinic.errors import DomainError
from clinic.models import (
    AppointmentType,
    Clinic,
    Closure,
    Equipment,
    OverbookingRule,
    Patient,
    Provider,
    Room,
    TimeOff,
    WorkingHours,
)
from scheduling.models import (
    ACTIVE_STATUSES,
    CONFLICT_BY_CONSTRAINT,
    Appointment,
    AppointmentHistory,
    WaitlistEntry,
)

M = TypeVar("M", bound=models.Model)
Progress = Callable[[str], None]
CHUNK = 500
HISTORY_ACTION = "loaded"
ACTIVE = [s.value for s in ACTIVE_STATUSES]


class ClinicFileError(DomainError):
    """The file has problems (``problems``: one line each, with its JSON path); nothing
    was loaded."""

    status, code = 422, "invalid_clinic_file"

    def __init__(self, problems: Sequence[str]):
        super().__init__(f"The clinic file has {len(problems)} problem(s).", problems=list(problems))
        self.problems = list(problems)


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def count(self, *, created: bool, changed: bool) -> None:
        if created:
            self.created += 1
        elif changed:
            self.updated += 1
        else:
            self.unchanged += 1


TALLY_ORDER = (
    "clinic",
    "closures",
    "equipment",
    "providers",
    "time_off",
    "rooms",
    "appointment_types",
    "overbooking_rules",
    "patients",
    "appointments",
    "waitlist",
)


@dataclass
class LoadReport:
    clinic: str
    tallies: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in TALLY_ORDER})
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return any(t.created or t.updated for t in self.tallies.values())

    def summary(self) -> list[str]:
        """One line per kind the file named: how many were created, updated, unchanged."""
        lines = [f"clinic {self.clinic}: {'changed' if self.changed else 'nothing changed'}"]
        for kind, t in self.tallies.items():
            if t.created or t.updated or t.unchanged:
                lines.append(f"  {kind}: {t.created} created, {t.updated} updated, {t.unchanged} unchanged")
        return lines


def _update(obj: models.Model, values: Mapping[str, Any]) -> list[str]:
    """Set the values that differ; returns the names of the changed fields (not saved)."""
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    return changed


def _save(obj: models.Model, values: Mapping[str, Any]) -> bool:
    changed = _update(obj, values)
    if changed:
        obj.save(update_fields=changed)
    return bool(changed)


def _sync_m2m(model: type[models.Model], name: str, desired: Mapping[int, set[int]]) -> set[int]:
    """Make each owner's ``name`` relation exactly ``desired[owner]``; returns the owners
    whose relation changed."""
    relation: Any = model._meta.get_field(name)
    through = relation.remote_field.through
    source = f"{relation.m2m_field_name()}_id"
    target = f"{relation.m2m_reverse_field_name()}_id"
    current: dict[int, set[int]] = defaultdict(set)
    for owner, other in through.objects.filter(**{f"{source}__in": list(desired)}).values_list(
        source, target
    ):
        current[owner].add(other)
    changed: set[int] = set()
    new_rows = []
    for owner, wanted in desired.items():
        have = current.get(owner, set())
        if have == wanted:
            continue
        changed.add(owner)
        if have - wanted:
            through.objects.filter(**{source: owner, f"{target}__in": have - wanted}).delete()
        new_rows += [through(**{source: owner, target: other}) for other in wanted - have]
    through.objects.bulk_create(new_rows)
    return changed


def _local(moment: dt.datetime, clinic: Clinic) -> str:
    return f"{moment.astimezone(clinic.tz):%Y-%m-%dT%H:%M}"


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


class _Applier:
    def __init__(self, file: ClinicFile, report: LoadReport, progress: Progress | None):
        self.file = file
        self.report = report
        self.progress = progress
        self.errors: list[str] = []
        self.clinic: Clinic
        self.equipment: dict[str, Equipment] = {}
        self.providers: dict[str, Provider] = {}
        self.rooms: dict[str, Room] = {}
        self.types: dict[str, AppointmentType] = {}
        self.patients: dict[str, Patient] = {}

    def tally(self, kind: str) -> Tally:
        return self.report.tallies[kind]

    def run(self) -> list[str]:
        self.apply_clinic()
        self.equipment = self.upsert(Equipment, "equipment", self.file.equipment, lambda s: {"name": s.name})
        self.apply_providers()
        self.apply_rooms()
        self.apply_types()
        self.apply_rules()
        self.apply_patients()
        self.apply_appointments()
        self.apply_waitlist()
        return self.errors

    # --- resources ----------------------------------------------------------------------

    def apply_clinic(self) -> None:
        spec = self.file.clinic
        values = {
            "name": spec.name,
            "timezone": spec.timezone,
            "slot_minutes": spec.slot_minutes,
            "min_notice_minutes": spec.min_notice_minutes,
            "booking_horizon_days": spec.booking_horizon_days,
            "weight_preference": spec.weight_preference,
            "weight_compactness": spec.weight_compactness,
            "weight_room_switch": spec.weight_room_switch,
            "weight_overbooking": spec.weight_overbooking,
            "no_show_grace_minutes": spec.no_show_grace_minutes,
        }
        clinic = Clinic.objects.filter(code=spec.code).first()
        if clinic is None:
            self.clinic = Clinic.objects.create(code=spec.code, **values)
            self.tally("clinic").count(created=True, changed=True)
        else:
            self.clinic = clinic
            self.tally("clinic").count(created=False, changed=_save(clinic, values))

        existing = {c.date: c for c in Closure.objects.filter(clinic=self.clinic)}
        for closure in spec.closures:
            stored = existing.get(closure.date)
            if stored is None:
                Closure.objects.create(clinic=self.clinic, date=closure.date, reason=closure.reason)
            changed = stored is not None and _save(stored, {"reason": closure.reason})
            self.tally("closures").count(created=stored is None, changed=changed)

    def upsert(
        self,
        model: type[M],
        kind: str,
        specs: Iterable[Any],
        values: Callable[[Any], dict[str, Any]],
        also_changed: Callable[[dict[str, M]], set[int]] | None = None,
    ) -> dict[str, M]:
        """Create or update the clinic's ``model`` rows by code; ``also_changed`` syncs
        what hangs off them and returns the ids of rows it changed."""
        specs = list(specs)
        manager: Any = model._default_manager
        existing: dict[str, M] = {
            o.code: o for o in manager.filter(clinic=self.clinic, code__in=[s.code for s in specs])
        }
        created: list[M] = []
        updated: set[str] = set()
        for spec in specs:
            obj = existing.get(spec.code)
            if obj is None:
                created.append(model(clinic=self.clinic, code=spec.code, **values(spec)))
            elif _save(obj, values(spec)):
                updated.add(spec.code)
        manager.bulk_create(created)
        objects = existing | {o.code: o for o in created}  # type: ignore[attr-defined]
        changed_ids = also_changed(objects) if also_changed else set()
        new_codes = {o.code for o in created}  # type: ignore[attr-defined]
        for spec in specs:
            self.tally(kind).count(
                created=spec.code in new_codes,
                changed=spec.code in updated or objects[spec.code].pk in changed_ids,
            )
        return objects

    def apply_providers(self) -> None:
        self.providers = self.upsert(
            Provider, "providers", self.file.providers, lambda s: {"name": s.name}, self.sync_working_hours
        )
        self.sync_time_off()

    def sync_working_hours(self, providers: dict[str, Provider]) -> set[int]:
        wanted = {
            providers[p.code].pk: {(w.weekday, w.start, w.end) for w in p.working_hours}
            for p in self.file.providers
        }
        current: dict[int, dict[tuple[int, dt.time, dt.time], int]] = defaultdict(dict)
        for row in WorkingHours.objects.filter(provider_id__in=list(wanted)):
            current[row.provider_id][row.weekday, row.start, row.end] = row.pk
        changed = set()
        stale: list[int] = []
        new: list[WorkingHours] = []
        for provider_id, windows in wanted.items():
            have = current.get(provider_id, {})
            if set(have) == windows:
                continue
            changed.add(provider_id)
            stale += [pk for key, pk in have.items() if key not in windows]
            new += [
                WorkingHours(provider_id=provider_id, weekday=d, start=s, end=e)
                for d, s, e in windows - set(have)
            ]
        WorkingHours.objects.filter(pk__in=stale).delete()
        WorkingHours.objects.bulk_create(new)
        return changed

    def sync_time_off(self) -> None:
        """Time off is added or its reason updated, never deleted."""
        providers = self.providers
        ids = [providers[p.code].pk for p in self.file.providers]
        existing = {(t.provider_id, t.start, t.end): t for t in TimeOff.objects.filter(provider_id__in=ids)}
        new = []
        for p in self.file.providers:
            provider_id = providers[p.code].pk
            for off in p.time_off:
                stored = existing.get((provider_id, off.start, off.end))
                if stored is None:
                    new.append(
                        TimeOff(provider_id=provider_id, start=off.start, end=off.end, reason=off.reason)
                    )
                changed = stored is not None and _save(stored, {"reason": off.reason})
                self.tally("time_off").count(created=stored is None, changed=changed)
        TimeOff.objects.bulk_create(new)

    def apply_rooms(self) -> None:
        def equipment(objects: dict[str, Room]) -> set[int]:
            return _sync_m2m(
                Room,
                "equipment",
                {objects[r.code].pk: {self.equipment_id(e) for e in r.equipment} for r in self.file.rooms},
            )

        self.rooms = self.upsert(Room, "rooms", self.file.rooms, lambda s: {"name": s.name}, equipment)

    def equipment_id(self, code: str) -> int:
        return self.equipment[code].pk

    def apply_types(self) -> None:
        specs = self.file.appointment_types

        def relations(objects: dict[str, AppointmentType]) -> set[int]:
            required = _sync_m2m(
                AppointmentType,
                "required_equipment",
                {objects[t.code].pk: {self.equipment_id(e) for e in t.required_equipment} for t in specs},
            )
            allowed = _sync_m2m(
                AppointmentType,
                "providers",
                {objects[t.code].pk: {self.providers[p].pk for p in t.providers} for t in specs},
            )
            return required | allowed

        self.types = self.upsert(
            AppointmentType,
            "appointment_types",
            specs,
            lambda s: {
                "name": s.name,
                "duration_minutes": s.duration_minutes,
                "buffer_before_minutes": s.buffer_before_minutes,
                "buffer_after_minutes": s.buffer_after_minutes,
            },
            relations,
        )

    def apply_rules(self) -> None:
        existing = {
            (r.provider_id, r.appointment_type_id): r
            for r in OverbookingRule.objects.filter(clinic=self.clinic)
        }
        for spec in self.file.overbooking_rules:
            provider = self.providers[spec.provider].pk if spec.provider else None
            kind = self.types[spec.appointment_type].pk if spec.appointment_type else None
            stored = existing.get((provider, kind))
            if stored is None:
                OverbookingRule.objects.create(
                    clinic=self.clinic,
                    provider_id=provider,
                    appointment_type_id=kind,
                    max_extra=spec.max_extra,
                )
            changed = stored is not None and _save(stored, {"max_extra": spec.max_extra})
            self.tally("overbooking_rules").count(created=stored is None, changed=changed)

    def apply_patients(self) -> None:
        specs = self.file.patients

        def preferred(objects: dict[str, Patient]) -> set[int]:
            return _sync_m2m(
                Patient,
                "preferred_providers",
                {objects[p.code].pk: {self.providers[c].pk for c in p.preferred_providers} for p in specs},
            )

        self.patients = self.upsert(
            Patient,
            "patients",
            specs,
            lambda s: {
                "first_name": s.first_name,
                "last_name": s.last_name,
                "birth_date": s.birth_date,
                "phone": s.phone,
                "email": s.email,
                "preferred_days": list(s.preferred_days),
                "preferred_times": [list(t) for t in s.preferred_times],
            },
            preferred,
        )

    # --- bookings -----------------------------------------------------------------------

    def apply_appointments(self) -> None:
        specs = self.file.appointments
        if not specs:
            return
        matched = self.match_appointments(specs)
        seated = self.seat(specs, matched)

        updates: list[tuple[AppointmentSpec, Appointment, dict[str, Any]]] = []
        creates: list[tuple[AppointmentSpec, Appointment]] = []
        for i, spec in enumerate(seated):
            if spec is None:  # no overbooking seat: reported already
                continue
            values = self.appointment_values(spec)
            stored = matched.get(i)
            if stored is None:
                creates.append((spec, Appointment(clinic=self.clinic, **values)))
                continue
            if (stored.appointment_type_id, stored.start, stored.end) == (
                values["appointment_type_id"],
                spec.start,
                spec.end,
            ):
                # The stored blocked range follows the type's buffers when it was booked.
                del values["blocked_start"], values["blocked_end"]
            before = {name: getattr(stored, name) for name in values}
            changed = _update(stored, values)
            self.tally("appointments").count(created=False, changed=bool(changed))
            if changed:
                updates.append((spec, stored, {n: [_json(before[n]), _json(values[n])] for n in changed}))

        done, total = 0, len(updates) + len(creates)
        # Freeing time first lets another entry of the same file take it over.
        updates.sort(key=lambda u: u[0].active)
        history = []
        for spec, stored, changes in updates:
            if self.write(spec, stored, update_fields=[*changes, "updated_at"]):
                history.append(AppointmentHistory(appointment=stored, action=HISTORY_ACTION, changes=changes))
            done = self.tick(done, total)
        for start in range(0, len(creates), CHUNK):
            chunk = creates[start : start + CHUNK]
            inserted = self.create(chunk)
            for spec, appointment in inserted:
                history.append(
                    AppointmentHistory(
                        appointment=appointment,
                        action=HISTORY_ACTION,
                        changes={"source": "clinic file", "status": spec.status},
                    )
                )
            self.tally("appointments").created += len(inserted)
            for _ in chunk:
                done = self.tick(done, total)
        AppointmentHistory.objects.bulk_create(history, batch_size=CHUNK)

    def tick(self, done: int, total: int) -> int:
        """Count one appointment written; report every CHUNK and at the end."""
        done += 1
        if self.progress and (done % CHUNK == 0 or done == total):
            self.progress(f"appointments: {done}/{total} written")
        return done

    def match_appointments(self, specs: Sequence[AppointmentSpec]) -> dict[int, Appointment]:
        """The stored appointment each file entry stands for, by (patient, provider, start)."""
        stored: dict[tuple[int, int, dt.datetime], list[Appointment]] = defaultdict(list)
        for a in Appointment.objects.filter(
            clinic=self.clinic,
            start__gte=min(s.start for s in specs),
            start__lte=max(s.start for s in specs),
        ).order_by("pk"):
            stored[a.patient_id, a.provider_id, a.start].append(a)
        matched = {}
        for i, spec in enumerate(specs):
            key = (self.patients[spec.patient].pk, self.providers[spec.provider].pk, spec.start)
            if stored.get(key):
                matched[i] = stored[key].pop(0)
        return matched

    def seat(
        self, specs: Sequence[AppointmentSpec], matched: dict[int, Appointment]
    ) -> list[AppointmentSpec | None]:
        """Seats for the overbookings, now also clear of the stored bookings the file does
        not name and following the clinic's rules as stored (the file's and any others).
        None for an entry that gets no seat (an error says why)."""
        if not any(s.overbook for s in specs):
            return list(specs)
        overbooks = [s for s in specs if s.overbook and s.active]
        named = {a.pk for a in matched.values()}
        busy = []
        stored = (
            Appointment.objects.active()
            .filter(clinic=self.clinic, seat__gt=0)
            .blocking(min(s.blocked_start for s in overbooks), max(s.blocked_end for s in overbooks))
            .exclude(pk__in=named)
            .select_related("provider", "room")
            if overbooks
            else Appointment.objects.none()
        )
        for a in stored:
            busy.append(Busy("provider", a.provider.code, a.seat, a.blocked_start, a.blocked_end))
            busy.append(Busy("room", a.room.code, a.seat, a.blocked_start, a.blocked_end))
        rules = [
            OverbookingRuleSpec(
                r.provider.code if r.provider else None,
                r.appointment_type.code if r.appointment_type else None,
                r.max_extra,
            )
            for r in OverbookingRule.objects.filter(clinic=self.clinic).select_related(
                "provider", "appointment_type"
            )
        ]
        preferred = {i: a.seat for i, a in matched.items() if a.seat > 0}
        seats, errors = assign_seats(specs, seat_limit(rules), busy=busy, preferred=preferred)
        self.errors += errors
        return [
            None if seat is None else dataclasses.replace(s, seat=seat)
            for s, seat in zip(specs, seats, strict=True)
        ]

    def appointment_values(self, spec: AppointmentSpec) -> dict[str, Any]:
        return {
            "patient_id": self.patients[spec.patient].pk,
            "appointment_type_id": self.types[spec.appointment_type].pk,
            "provider_id": self.providers[spec.provider].pk,
            "room_id": self.rooms[spec.room].pk,
            "start": spec.start,
            "end": spec.end,
            "blocked_start": spec.blocked_start,
            "blocked_end": spec.blocked_end,
            "seat": spec.seat,
            "status": spec.status,
            "note": spec.note,
            "cancelled_at": spec.cancelled_at,
            "cancel_reason": spec.cancel_reason,
        }

    def create(
        self, chunk: list[tuple[AppointmentSpec, Appointment]]
    ) -> list[tuple[AppointmentSpec, Appointment]]:
        """Insert a chunk at once; if the database refuses it, row by row to find out which
        entries it refuses."""
        try:
            with transaction.atomic():
                Appointment.objects.bulk_create([a for _, a in chunk])
            return chunk
        except IntegrityError:
            for _, a in chunk:
                a.pk = None
        return [(spec, a) for spec, a in chunk if self.write(spec, a, update_fields=None)]

    def write(
        self, spec: AppointmentSpec, appointment: Appointment, *, update_fields: list[str] | None
    ) -> bool:
        """Insert (or update these fields of) one appointment in a savepoint; a refusal
        becomes an error naming the entry."""
        try:
            with transaction.atomic():
                if update_fields is None:
                    appointment.save(force_insert=True)
                else:
                    appointment.save(update_fields=update_fields)
            return True
        except IntegrityError as exc:
            self.errors.append(f"{spec.path}: {self.refusal(exc, appointment)}")
            return False

    def refusal(self, exc: IntegrityError, a: Appointment) -> str:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or ""
        conflict = CONFLICT_BY_CONSTRAINT.get(constraint)
        if conflict is None:
            return f"refused by the database ({constraint or exc})"
        others = Appointment.objects.active().filter(clinic=self.clinic).exclude(pk=a.pk)
        if conflict == "patient":
            others = others.overlapping(a.start, a.end).filter(patient_id=a.patient_id)
            where = f"for patient {a.patient.code}"
        else:
            others = others.blocking(a.blocked_start, a.blocked_end).filter(
                seat=a.seat, **{f"{conflict}_id": getattr(a, f"{conflict}_id")}
            )
            where = f"on {conflict} {getattr(a, conflict).code}"
        other = others.select_related("patient").order_by("start").first()
        if other is None:
            return f"overlaps another booking {where}"
        return (
            f"overlaps existing appointment #{other.pk} "
            f"({other.patient.code} at {_local(other.start, self.clinic)}) {where}"
        )

    def apply_waitlist(self) -> None:
        if not self.file.waitlist:
            return
        stored: dict[tuple[int, int], list[WaitlistEntry]] = defaultdict(list)
        for row in WaitlistEntry.objects.filter(clinic=self.clinic).order_by("pk"):
            stored[row.patient_id, row.appointment_type_id].append(row)
        groups: dict[tuple[int, int], list[WaitlistSpec]] = defaultdict(list)
        for spec in self.file.waitlist:
            groups[self.patients[spec.patient].pk, self.types[spec.appointment_type].pk].append(spec)

        now = timezone.now()
        for (patient_id, type_id), specs in groups.items():
            candidates = stored.get((patient_id, type_id), [])
            for spec, entry in self.match_waitlist(specs, candidates):
                values: dict[str, Any] = {
                    "provider_id": self.providers[spec.provider].pk if spec.provider else None,
                    "earliest": spec.earliest,
                    "latest": spec.latest,
                    "note": spec.note,
                    "status": spec.status,
                }
                if entry is None:
                    if spec.status == "closed":
                        values["closed_at"] = now
                    WaitlistEntry.objects.create(
                        clinic=self.clinic, patient_id=patient_id, appointment_type_id=type_id, **values
                    )
                    self.tally("waitlist").count(created=True, changed=True)
                    continue
                if entry.status != spec.status:
                    values["closed_at"] = now if spec.status == "closed" else None
                self.tally("waitlist").count(created=False, changed=_save(entry, values))

    def match_waitlist(
        self, specs: list[WaitlistSpec], candidates: list[WaitlistEntry]
    ) -> list[tuple[WaitlistSpec, WaitlistEntry | None]]:
        """Pair file entries with stored ones: identical dates and provider first, then in order."""
        free = list(candidates)
        pairs: dict[int, WaitlistEntry | None] = {}
        for i, spec in enumerate(specs):
            provider_id = self.providers[spec.provider].pk if spec.provider else None
            for entry in free:
                if (entry.provider_id, entry.earliest, entry.latest) == (
                    provider_id,
                    spec.earliest,
                    spec.latest,
                ):
                    pairs[i] = entry
                    free.remove(entry)
                    break
        for i in range(len(specs)):
            if i not in pairs:
                pairs[i] = free.pop(0) if free else None
        return [(spec, pairs[i]) for i, spec in enumerate(specs)]


@transaction.atomic(durable=True)
def apply_clinic_file(
    file: ClinicFile, *, warnings: Sequence[str] = (), progress: Progress | None = None
) -> LoadReport:
    """Create or update everything the file describes; raises ``ClinicFileError`` (and
    writes nothing) if the database refuses any of it."""
    report = LoadReport(clinic=file.clinic.code, warnings=tuple(warnings))
    errors = _Applier(file, report, progress).run()
    if errors:
        raise ClinicFileError(errors)
    return report


__all__ = ["ClinicFileError", "LoadReport", "Tally", "apply_clinic_file"]

"""The clinic's resources and rules: everything the clinic file describes except bookings."""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from collections.abc import Collection, Iterable
from typing import Any

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import (
    ArrayField,
    BigIntegerRangeField,
    DateTimeRangeField,
    RangeOperators,
)
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Func, Q, Value

CODE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
code_validator = RegexValidator(
    CODE_PATTERN, "A code is a slug: lowercase letters, digits, '-' and '_', at most 64."
)
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def CodeField() -> models.CharField:  # noqa: N802 - reads like a field class at use sites
    return models.CharField(max_length=64, validators=[code_validator])


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not an IANA time zone name.") from exc


class Weekday(models.IntegerChoices):
    MON = 0, "Monday"
    TUE = 1, "Tuesday"
    WED = 2, "Wednesday"
    THU = 3, "Thursday"
    FRI = 4, "Friday"
    SAT = 5, "Saturday"
    SUN = 6, "Sunday"


class Clinic(models.Model):
    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    # Where patients come and whom their calendar writes to: in invitations (.ics), the
    # FHIR clinic Location and its Schedules' publications.
    address = models.TextField(blank=True, help_text="Postal address, as patients should read it.")
    email = models.EmailField(blank=True, help_text="The clinic's email: an invitation's organizer.")
    slot_minutes = models.PositiveSmallIntegerField(default=15, validators=[MinValueValidator(1)])
    min_notice_minutes = models.PositiveIntegerField(default=0)
    booking_horizon_days = models.PositiveIntegerField(default=365)
    weight_preference = models.FloatField(default=0.40)
    weight_compactness = models.FloatField(default=0.35)
    weight_room_switch = models.FloatField(default=0.15)
    weight_overbooking = models.FloatField(default=0.10)
    no_show_grace_minutes = models.PositiveIntegerField(
        default=15, help_text="How long after an appointment's end it is marked a no-show."
    )
    no_show_lookback_days = models.PositiveIntegerField(
        default=2,
        validators=[MinValueValidator(1)],
        help_text="Only appointments that ended within this many days are marked no-shows; "
        "older ones (loaded history, a job that was down) are left as they are.",
    )
    # Issue 12: automatic waitlist offers and data-driven overbooking.
    offer_hold_minutes = models.PositiveIntegerField(
        default=15,
        validators=[MinValueValidator(1)],
        help_text="How long a freed slot offered to waitlisted patients is held for them "
        "before the next candidates are offered it.",
    )
    overbooking_risk = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="The highest acceptable chance that more patients come than a provider can "
        "see in a session; overbooking recommendations stay below it.",
    )
    # Issue 11: bumped in the same transaction as every change to the clinic's setup
    # (providers, hours, rooms, equipment, types, rules, closures, time off), so a cached
    # setup is used only while it is current.
    setup_version = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(slot_minutes__gte=1), name="clinic_slot_minutes_positive"),
            models.CheckConstraint(
                condition=Q(weight_preference__gte=0)
                & Q(weight_compactness__gte=0)
                & Q(weight_room_switch__gte=0)
                & Q(weight_overbooking__gte=0),
                name="clinic_weights_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Closure(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="closures")
    date = models.DateField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "date"], name="closure_unique_date"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.reason}".strip()


class Equipment(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="equipment")
    code = CodeField()
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "equipment"
        constraints = [
            models.UniqueConstraint(fields=["clinic", "code"], name="equipment_unique_code"),
        ]

    def __str__(self) -> str:
        return self.name


class Room(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="rooms")
    code = CodeField()
    name = models.CharField(max_length=200)
    equipment = models.ManyToManyField(Equipment, blank=True, related_name="rooms")

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "code"], name="room_unique_code"),
        ]

    def __str__(self) -> str:
        return self.name


class Provider(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="providers")
    code = CodeField()
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "code"], name="provider_unique_code"),
        ]

    def __str__(self) -> str:
        return self.name


def as_point_range(field: str) -> Func:
    """An integer column as the one-point range ``int8range(x, x, '[]')``.

    Two such ranges overlap exactly when the values are equal, and plain GiST indexes range
    types, so exclusion constraints can say "same provider" without the ``btree_gist``
    extension (the embedded PostgreSQL does not ship it).
    """
    return Func(F(field), F(field), Value("[]"), function="int8range", output_field=BigIntegerRangeField())


def _on_a_fixed_day(field: str) -> Func:
    # ``date + time`` is an immutable timestamp, so two times of day make an indexable range.
    return Func(
        F(field), template="(DATE '2000-01-01' + %(expressions)s)", output_field=models.DateTimeField()
    )


def _clock_range(start: str, end: str) -> Func:
    return Func(
        _on_a_fixed_day(start),
        _on_a_fixed_day(end),
        Value("[)"),
        function="tsrange",
        output_field=DateTimeRangeField(),
    )


class WorkingHours(models.Model):
    """One ``[start, end)`` local window on a weekday; a gap between two windows is a break.

    The windows of one provider and weekday never overlap (they may touch).
    """

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField()

    # The admin's inline turns this off: its formset checks the provider's whole week as it
    # will be saved, while the saved rows may be about to change in the same form.
    check_saved_hours = True

    class Meta:
        ordering = ["provider", "weekday", "start"]
        verbose_name_plural = "working hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="working_hours_end_after_start"
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="working_hours_weekday_valid"),
            ExclusionConstraint(
                name="working_hours_no_overlap",
                expressions=[
                    (as_point_range("provider_id"), RangeOperators.OVERLAPS),
                    (as_point_range("weekday"), RangeOperators.OVERLAPS),
                    (_clock_range("start", "end"), RangeOperators.OVERLAPS),
                ],
                # Checked at commit: the admin's inline saves a provider's rows one by one, so
                # moving 08-10 to 10-12 while 10-12 moves to 08-10 overlaps only half-way through.
                deferrable=models.Deferrable.DEFERRED,
                violation_error_message="These hours overlap the provider's other hours that weekday.",
            ),
        ]

    def __str__(self) -> str:
        return f"{Weekday(self.weekday).label} {self.start:%H:%M}-{self.end:%H:%M}"

    def clean(self) -> None:
        super().clean()
        if self.start is None or self.end is None:
            return
        if self.end <= self.start:
            raise ValidationError({"end": "The end must be after the start."})
        if self.provider_id is None or self.weekday is None or not self.check_saved_hours:
            return
        saved = WorkingHours.objects.filter(provider_id=self.provider_id, weekday=self.weekday)
        if self.pk is not None:
            saved = saved.exclude(pk=self.pk)
        other = self.first_overlap(saved)
        if other is not None:
            raise self.overlap_error(other)

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        if not self.check_saved_hours:
            # The overlap constraint would compare with the saved rows too; "start" takes
            # it (and the end-after-start check, which ``clean`` makes) out of the round.
            exclude = {*(exclude or ()), "start"}
        super().validate_constraints(exclude=exclude)

    def first_overlap(self, others: Iterable[WorkingHours]) -> WorkingHours | None:
        """The earliest of ``others`` (the same provider's) that overlaps this window."""
        return min(
            (
                o
                for o in others
                if o is not self and o.weekday == self.weekday and o.start < self.end and self.start < o.end
            ),
            key=lambda o: (o.start, o.end),
            default=None,
        )

    @staticmethod
    def overlap_error(other: WorkingHours) -> ValidationError:
        # On a field, so that model validation does not repeat it as the constraint's message.
        message = (
            f"These hours overlap {other}: the windows of one day must not overlap"
            " (a gap between two windows is a break)."
        )
        return ValidationError({"start": ValidationError(message, code="working_hours_overlap")})


class TimeOff(models.Model):
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="time_off")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["provider", "start"]
        verbose_name_plural = "time off"
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="time_off_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} off {self.start:%Y-%m-%d %H:%M} - {self.end:%Y-%m-%d %H:%M}"


class AppointmentType(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="appointment_types")
    code = CodeField()
    name = models.CharField(max_length=200)
    duration_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    buffer_before_minutes = models.PositiveIntegerField(default=0)
    buffer_after_minutes = models.PositiveIntegerField(default=0)
    required_equipment = models.ManyToManyField(Equipment, blank=True, related_name="+")
    providers = models.ManyToManyField(
        Provider,
        blank=True,
        related_name="appointment_types",
        help_text="Who may perform it; none selected means every provider.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "code"], name="appointment_type_unique_code"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gt=0), name="appointment_type_duration_positive"
            ),
            models.CheckConstraint(
                condition=Q(buffer_before_minutes__gte=0) & Q(buffer_after_minutes__gte=0),
                name="appointment_type_buffers_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class OverbookingRule(models.Model):
    """How many extra bookings may share a provider's time.

    Global (no provider, no type), per provider, or per provider and type; the most
    specific rule that exists wins, and no rule at all means no overbooking.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="overbooking_rules")
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.CASCADE)
    appointment_type = models.ForeignKey(AppointmentType, null=True, blank=True, on_delete=models.CASCADE)
    max_extra = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["clinic", "provider", "appointment_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "provider", "appointment_type"],
                nulls_distinct=False,
                name="overbooking_rule_unique_scope",
            ),
            models.CheckConstraint(
                condition=Q(appointment_type__isnull=True) | Q(provider__isnull=False),
                name="overbooking_rule_type_needs_provider",
            ),
            models.CheckConstraint(
                condition=Q(max_extra__gte=0), name="overbooking_rule_max_extra_not_negative"
            ),
        ]

    def __str__(self) -> str:
        if self.provider_id is None:
            scope = "clinic-wide"
        elif self.appointment_type_id is None:
            scope = f"{self.provider}"
        else:
            scope = f"{self.provider} / {self.appointment_type}"
        return f"{scope}: up to {self.max_extra} extra"

    @property
    def level(self) -> str:
        if self.provider_id is None:
            return "global"
        return "provider" if self.appointment_type_id is None else "provider_and_type"


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="patients")
    code = CodeField()
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    birth_date = models.DateField(null=True, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    preferred_providers = models.ManyToManyField(Provider, blank=True, related_name="+")
    preferred_days = ArrayField(
        models.CharField(max_length=3, choices=[(k, k) for k in WEEKDAY_KEYS]),
        default=list,
        blank=True,
        help_text="Weekday keys: mon .. sun.",
    )
    preferred_times = models.JSONField(
        default=list, blank=True, help_text='Local time ranges, e.g. [["08:00", "11:00"]].'
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name", "code"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "code"], name="patient_unique_code"),
        ]
        indexes = [models.Index(fields=["clinic", "last_name", "first_name"])]

    def __str__(self) -> str:
        return f"{self.last_name}, {self.first_name} ({self.code})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def matching(self, raw_token: str) -> ApiTokenQuerySet:
        return self.filter(key_hash=ApiToken.hash(raw_token))


class Membership(models.Model):
    """A staff user works for a clinic; a clinician is also linked to the provider they are,
    and then sees and acts on that provider's appointments only."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    provider = models.ForeignKey(
        Provider,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="memberships",
        help_text="For a clinician: the provider this user is. Their own appointments are all they see.",
    )

    class Meta:
        ordering = ["clinic__code", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="membership_unique_user_clinic")
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.clinic}"

    def clean(self) -> None:
        if self.provider is not None and self.clinic_id and self.provider.clinic_id != self.clinic_id:
            raise ValidationError({"provider": "The provider must work at this clinic."})


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only a SHA-256 of the token is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="First characters, to tell tokens apart."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: it does not expire.")
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Set: the token no longer works.")

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash(raw_token: str) -> str:
        return hashlib.sha256(raw_token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: Any, expires_at: Any = None) -> tuple[ApiToken, str]:
        """Create a token for ``user``; returns the row and the raw token (shown once)."""
        raw = secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, key_hash=cls.hash(raw), prefix=raw[:8], expires_at=expires_at)
        return token, raw

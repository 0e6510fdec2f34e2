from __future__ import annotations

import datetime as dt

import factory

from clinic.tests.factories import (
    AppointmentTypeFactory,
    ClinicFactory,
    PatientFactory,
    ProviderFactory,
    RoomFactory,
)
from scheduling import models


class AppointmentFactory(factory.django.DjangoModelFactory):
    """An appointment whose end and blocked range follow from its type, as a booking's do."""

    class Meta:
        model = models.Appointment

    clinic = factory.SubFactory(ClinicFactory)
    patient = factory.SubFactory(PatientFactory, clinic=factory.SelfAttribute("..clinic"))
    appointment_type = factory.SubFactory(AppointmentTypeFactory, clinic=factory.SelfAttribute("..clinic"))
    provider = factory.SubFactory(ProviderFactory, clinic=factory.SelfAttribute("..clinic"))
    room = factory.SubFactory(RoomFactory, clinic=factory.SelfAttribute("..clinic"))
    start = dt.datetime(2027, 3, 8, 9, 0, tzinfo=dt.UTC)
    end = factory.LazyAttribute(lambda a: a.start + dt.timedelta(minutes=a.appointment_type.duration_minutes))
    blocked_start = factory.LazyAttribute(
        lambda a: a.start - dt.timedelta(minutes=a.appointment_type.buffer_before_minutes)
    )
    blocked_end = factory.LazyAttribute(
        lambda a: a.end + dt.timedelta(minutes=a.appointment_type.buffer_after_minutes)
    )
    seat = 0
    status = models.AppointmentStatus.BOOKED


class WaitlistEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.WaitlistEntry

    clinic = factory.SubFactory(ClinicFactory)
    patient = factory.SubFactory(PatientFactory, clinic=factory.SelfAttribute("..clinic"))
    appointment_type = factory.SubFactory(AppointmentTypeFactory, clinic=factory.SelfAttribute("..clinic"))
    earliest = dt.date(2027, 3, 1)
    latest = dt.date(2027, 3, 31)

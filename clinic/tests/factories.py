from __future__ import annotations

import datetime as dt

import factory

from clinic import models


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Clinic
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"clinic-{n}")
    name = factory.Sequence(lambda n: f"Test Clinic {n}")
    timezone = "Europe/Berlin"


class EquipmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Equipment

    clinic = factory.SubFactory(ClinicFactory)
    code = factory.Sequence(lambda n: f"eq-{n}")
    name = factory.Sequence(lambda n: f"Equipment {n}")


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Room

    clinic = factory.SubFactory(ClinicFactory)
    code = factory.Sequence(lambda n: f"r{n}")
    name = factory.Sequence(lambda n: f"Room {n}")


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Provider

    clinic = factory.SubFactory(ClinicFactory)
    code = factory.Sequence(lambda n: f"dr-{n}")
    name = factory.Sequence(lambda n: f"Dr. Test {n}")


class WorkingHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.WorkingHours

    provider = factory.SubFactory(ProviderFactory)
    weekday = 0
    start = dt.time(8, 0)
    end = dt.time(17, 0)


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.AppointmentType

    clinic = factory.SubFactory(ClinicFactory)
    code = factory.Sequence(lambda n: f"type-{n}")
    name = factory.Sequence(lambda n: f"Visit {n}")
    duration_minutes = 30


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Patient

    clinic = factory.SubFactory(ClinicFactory)
    code = factory.Sequence(lambda n: f"p-{n}")
    first_name = factory.Sequence(lambda n: f"Testfirst{n}")
    last_name = factory.Sequence(lambda n: f"Testlast{n}")
    phone = "+49 30 0000000"
    email = factory.LazyAttribute(lambda p: f"{p.code}@example.org")

"""Shared fixtures. Tests run against real PostgreSQL: the embedded server, or DATABASE_URL."""

from __future__ import annotations

import pytest


@pytest.fixture
def clinic(db):
    from clinic.tests.factories import ClinicFactory

    return ClinicFactory(code="riverside", name="Riverside Family Practice")

"""Model instances from rows PostgreSQL returned as JSON (``row_to_json``).

Hot paths that must not pay for building and compiling ORM querysets read whole rows with
hand-written SQL and turn them back into ordinary model instances here.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def instance_from_json(model: type[M], row: Any) -> M:
    """The instance whose ``row_to_json`` PostgreSQL sent (a dict, or its JSON text)."""
    values = json.loads(row) if isinstance(row, str) else row
    fields = model._meta.concrete_fields
    return model.from_db(
        connection.alias, [f.attname for f in fields], [f.to_python(values[f.column]) for f in fields]
    )

"""Applying a PATCH body to a resource: JSON Patch (RFC 6902), as FHIR's ``PATCH``
defines it, or a JSON merge patch (RFC 7386), which some clients (fhirpy's ``patch``)
send as a partial resource.

A patch document that is not one is a ``400``; one that cannot be applied to this
resource (a path that does not exist, a failed ``test``) a ``422``, as FHIR asks.
"""

from __future__ import annotations

import copy
from typing import Any

from clinic.errors import BadRequest, ValidationFailed

MAX_OPERATIONS = 100


def apply(resource: dict[str, Any], body: Any) -> dict[str, Any]:
    """``resource`` with ``body`` applied (a JSON Patch array or a merge-patch object)."""
    if isinstance(body, list):
        return json_patch(resource, body)
    if isinstance(body, dict):
        if body.get("resourceType") == "Parameters":
            raise ValidationFailed(
                {"body": "FHIRPath Patch is not supported: send a JSON Patch (application/json-patch+json)."}
            )
        return merge_patch(resource, body)
    raise BadRequest("A PATCH body is a JSON Patch array or a JSON object.")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def json_patch(resource: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    if len(operations) > MAX_OPERATIONS:
        raise BadRequest(f"At most {MAX_OPERATIONS} operations in one patch.")
    document: Any = copy.deepcopy(resource)
    for number, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise BadRequest(f"Patch operation {number} needs an op and a path.")
        op = operation.get("op")
        path = _pointer(operation["path"], number)
        if op in ("add", "replace", "test") and "value" not in operation:
            raise BadRequest(f"Patch operation {number} ({op}) needs a value.")
        if op == "add":
            document = _add(document, path, copy.deepcopy(operation["value"]), number)
        elif op == "remove":
            document, _ = _remove(document, path, number)
        elif op == "replace":
            document, _ = _remove(document, path, number)
            document = _add(document, path, copy.deepcopy(operation["value"]), number)
        elif op in ("move", "copy"):
            if not isinstance(operation.get("from"), str):
                raise BadRequest(f"Patch operation {number} ({op}) needs a from.")
            source = _pointer(operation["from"], number)
            if op == "move":
                if path[: len(source)] == source and len(path) > len(source):
                    raise ValidationFailed({"body": f"Patch operation {number} moves a value into itself."})
                document, value = _remove(document, source, number)
            else:
                value = copy.deepcopy(_get(document, source, number))
            document = _add(document, path, value, number)
        elif op == "test":
            if _get(document, path, number) != operation["value"]:
                raise ValidationFailed({"body": f"Patch operation {number} (test) failed."})
        else:
            raise BadRequest(f"Patch operation {number}: unknown op {op!r}.")
    if not isinstance(document, dict):
        raise ValidationFailed({"body": "The patch must leave a resource (a JSON object)."})
    return document


def _pointer(text: str, number: int) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise BadRequest(f"Patch operation {number}: {text!r} is not a JSON pointer.")
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


def _missing(number: int) -> ValidationFailed:
    return ValidationFailed({"body": f"Patch operation {number} names a path that does not exist."})


def _index(container: list[Any], token: str, number: int, *, adding: bool = False) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise _missing(number)
    index = int(token)
    if index > len(container) or (index == len(container) and not adding):
        raise _missing(number)
    return index


def _get(document: Any, path: list[str], number: int) -> Any:
    for token in path:
        if isinstance(document, dict):
            if token not in document:
                raise _missing(number)
            document = document[token]
        elif isinstance(document, list):
            document = document[_index(document, token, number)]
        else:
            raise _missing(number)
    return document


def _add(document: Any, path: list[str], value: Any, number: int) -> Any:
    if not path:
        return value
    parent = _get(document, path[:-1], number)
    if isinstance(parent, dict):
        parent[path[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, path[-1], number, adding=True), value)
    else:
        raise _missing(number)
    return document


def _remove(document: Any, path: list[str], number: int) -> tuple[Any, Any]:
    if not path:
        return None, document
    parent = _get(document, path[:-1], number)
    if isinstance(parent, dict):
        if path[-1] not in parent:
            raise _missing(number)
        return document, parent.pop(path[-1])
    if isinstance(parent, list):
        return document, parent.pop(_index(parent, path[-1], number))
    raise _missing(number)

"""One error vocabulary: every refusal carries a stable code and a message a person can read.

The API turns these into ``{"error": {"code", "message", "details"}}`` with the status
below; the staff UI shows the message inline.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(DomainError):
    status, code = 400, "bad_request"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class SlotTaken(DomainError):
    """Another active booking holds the provider, room or patient (``details.conflict``)."""

    status, code = 409, "slot_taken"


class InvalidTransition(DomainError):
    status, code = 409, "invalid_transition"


class ValidationFailed(DomainError):
    """``details.fields`` maps each bad field to what is wrong with it."""

    status, code = 422, "validation_error"

    def __init__(self, fields: dict[str, str], message: str = "Some fields are missing or malformed."):
        super().__init__(message, fields=fields)


class SlotUnavailable(DomainError):
    """A well-formed request for a time the engine would not offer (``details.reason``)."""

    status, code = 422, "slot_unavailable"

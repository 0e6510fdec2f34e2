"""GET /api/v1/overbooking/recommendations (issue 12): data-driven overbooking rules."""

from ninja import Router

router = Router(tags=["overbooking"])

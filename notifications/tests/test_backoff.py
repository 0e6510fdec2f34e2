"""Backoff and Retry-After: pure functions, no database."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest
from django.utils import timezone

from notifications import delivery


def test_backoff_grows_with_jitter_and_is_capped():
    delays = [delivery.retry_delay_seconds(n) for n in range(1, 12)]

    for attempt, delay in enumerate(delays, 1):
        ceiling = min(delivery.BACKOFF_CAP_SECONDS, delivery.BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert delivery.retry_delay_seconds(3, retry_after=7) == 7


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("30", 30.0), ("-5", 0.0), ("soon", None)],
)
def test_retry_after_parsing(header, expected):
    assert delivery.retry_after_seconds(header) == expected


def test_retry_after_as_an_http_date():
    in_a_minute = format_datetime(timezone.now() + dt.timedelta(seconds=60), usegmt=True)

    assert 55 <= delivery.retry_after_seconds(in_a_minute) <= 60

"""What scheduling announces to the apps built on it, without importing them.

``slot_freed`` is sent inside the transaction that freed the time (a cancellation, or the
old time of a reschedule), after its own writes, so whatever a receiver writes commits or
rolls back with the change. Sent with ``freed`` (the cancelled appointment, locked, its
payload relations loaded), ``candidates`` (``services.Backfill``: who could take the time,
best first, each checked by the engine at ``now``) and ``now``. ``offers`` listens: it
offers the time to the best waitlisted candidates (``waitlist.slot_available``).
"""

from __future__ import annotations

from django.dispatch import Signal

slot_freed = Signal()

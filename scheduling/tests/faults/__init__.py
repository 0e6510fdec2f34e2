"""Faults and load, tested (issue 10): the database lost mid-booking, web workers killed
under load, the worker cluster stopped. Real servers, real PostgreSQL, bounded in time."""

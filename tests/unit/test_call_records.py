"""The call-log record normalizes the caller exactly as lookups do."""

from __future__ import annotations

from datetime import UTC, datetime

from callercard.calls.records import call_record
from callercard.calls.state import CallTracker


def test_a_local_number_is_logged_under_the_same_e164_as_its_card() -> None:
    tracker = CallTracker()
    at = datetime(2026, 11, 22, tzinfo=UTC)
    tracker.enter(call_id="1.1", number="1234567", at=at)
    _, call = tracker.end_call(call_id="1.1", at=at)
    assert call is not None
    record = call_record(call, tracker=tracker, region="RU", area_code="495")
    assert record["caller"] == {"number": "1234567", "e164": "+74951234567", "kind": "e164"}
    assert record["callback"]["needed"] is True

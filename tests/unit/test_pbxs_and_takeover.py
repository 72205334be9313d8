"""Pure parts of running on several machines: PBX ids in call ids and devices, what a successor shows again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from asterisk.live_calls import leg_states
from callercard.calls.notifier import idempotency_key
from callercard.calls.state import CallTracker
from callercard.pbxs import DEFAULT_PBX, PbxDevice, call_id, parse_device

T0 = datetime(2026, 11, 22, tzinfo=UTC)


def test_call_ids_are_namespaced_by_pbx_except_on_the_default_one() -> None:
    assert call_id(DEFAULT_PBX, "1795327861.20") == "1795327861.20"
    assert call_id("pbx2", "1795327861.20") == "pbx2:1795327861.20"


@pytest.mark.parametrize(("spec", "parsed"), [
    ("PJSIP/201", PbxDevice(DEFAULT_PBX, "PJSIP/201")),
    ("pbx2:PJSIP/201", PbxDevice("pbx2", "PJSIP/201")),
    ("pbx-2:Local/201@agents", PbxDevice("pbx-2", "Local/201@agents")),
])
def test_a_device_may_name_its_pbx(spec: str, parsed: PbxDevice) -> None:
    assert parse_device(spec) == parsed


def test_a_device_without_technology_is_refused() -> None:
    with pytest.raises(ValueError, match="technology"):
        parse_device("pbx2:201")


def test_the_idempotency_key_is_the_pbxs_ids_not_the_moment_it_was_seen() -> None:
    tracker = CallTracker()
    [first] = tracker.ring(call_id="1.1", leg_id="Local/201@agents-0b", agent_id="anna", queue="sales", at=T0)
    again = CallTracker()
    [second] = again.ring(call_id="1.1", leg_id="Local/201@agents-0b", agent_id="anna", queue="sales",
                          at=T0 + timedelta(seconds=3))
    assert idempotency_key(first) == idempotency_key(second) == "1.1:Local/201@agents-0b:ringing"


def test_a_successor_shows_each_recent_legs_state_again_and_closes_a_finished_calls_legs() -> None:
    tracker = CallTracker()
    tracker.enter(call_id="1.1", number="84959876543", at=T0)
    for agent, leg in (("anna", "L/201-1"), ("boris", "L/202-2"), ("vera", "L/203-3")):
        tracker.ring(call_id="1.1", leg_id=leg, agent_id=agent, queue="sales", at=T0)
    tracker.answer(call_id="1.1", leg_id="L/203-3", at=T0 + timedelta(seconds=2))
    live = [(n.agent_id, n.event.value, n.reason) for n in leg_states(tracker.calls["1.1"], since=T0)]
    assert live == [("anna", "dismissed", "answered_elsewhere"), ("boris", "dismissed", "answered_elsewhere"),
                    ("vera", "answered", None)]
    assert leg_states(tracker.calls["1.1"], since=T0 + timedelta(minutes=5)) == [], "only recent changes"
    _, call = tracker.end_call(call_id="1.1", at=T0 + timedelta(seconds=9))
    assert call is not None
    assert [(n.agent_id, n.event.value, n.reason, n.leg_id) for n in leg_states(call, since=None)] == [
        ("anna", "dismissed", "answered_elsewhere", "L/201-1"), ("boris", "dismissed", "answered_elsewhere", "L/202-2"),
        ("vera", "ended", "hangup", "L/203-3")]

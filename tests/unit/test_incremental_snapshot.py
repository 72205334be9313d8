"""The listener saves only the calls an event touched (``asterisk.live_calls``): on every recorded session, the
parts kept that way, updated after each event, always make the same snapshot as the whole flow does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from asterisk.events import AmiCallFlow
from asterisk.flow_resync import snapshot_of
from callercard.calls.state import CallTracker
from tests.support.captures import capture_path
from tests.support.recorded_calls import recorded_events
from tests.support.scenarios import DEMO_AGENTS

DEVICES = {device: agent for agent, spec in DEMO_AGENTS.items() for device in spec["devices"]}
CAPTURES = sorted(path.name.removesuffix(".jsonl") for path in capture_path("README.md").parent.glob("*.jsonl")
                  if not path.name.endswith(".http.jsonl"))


class KeptParts:
    """What the listener's hash holds: a part per call, written when touched, deleted when it has none."""

    def __init__(self, flow: AmiCallFlow) -> None:
        self.flow = flow
        self.parts: dict[str, dict[str, Any]] = {}
        self.written = 0

    def save(self) -> dict[str, Any]:
        for call_id in self.flow.take_touched():
            part = self.flow.snapshot_part(call_id)
            self.written += 1
            if part is None:
                self.parts.pop(call_id, None)
            else:
                self.parts[call_id] = part
        return snapshot_of(self.parts.values(), caller_channels=self.flow.caller_channels())


def new_flow(now: list[datetime]) -> AmiCallFlow:
    flow = AmiCallFlow(tracker=CallTracker(), agent_for_device=DEVICES.get, inbound_contexts=["incoming"],
                       clock=lambda: now[0])
    flow.keep_changes()
    return flow


def test_every_capture_is_covered() -> None:
    assert len(CAPTURES) >= 25 and "attended_transfer" in CAPTURES and "blind_transfer" in CAPTURES


@pytest.mark.parametrize("name", CAPTURES)
def test_the_parts_saved_after_each_event_make_the_whole_snapshot(name: str) -> None:
    now = [datetime(2026, 11, 22, tzinfo=UTC)]
    flow = new_flow(now)
    kept = KeptParts(flow)
    for number, (at, event) in enumerate(recorded_events(name), 1):
        now[0] = at
        flow.handle(event)
        assert kept.save() == flow.snapshot(), f"after event {number} ({event.get('Event')})"
    assert kept.parts == {} and flow.snapshot()["calls"] == []


@pytest.mark.parametrize("name", CAPTURES)
def test_a_resynchronization_mid_call_is_saved_too(name: str) -> None:
    now = [datetime(2026, 11, 22, tzinfo=UTC)]
    flow = new_flow(now)
    kept = KeptParts(flow)
    events = list(recorded_events(name))
    for at, event in events[: len(events) // 2]:
        now[0] = at
        flow.handle(event)
    kept.save()
    live = [{"Event": "CoreShowChannel", "Uniqueid": unique_id, "Linkedid": call_id, "Channel": "",
             "ChannelState": "6"} for call_id, ids in flow.channels.items() for unique_id in sorted(ids)[:1]]
    flow.resynchronize(live, asked_at=now[0])  # all but one channel of each call gone meanwhile
    assert kept.save() == flow.snapshot()
    for at, event in events[len(events) // 2:]:
        now[0] = at
        flow.handle(event)
        assert kept.save() == flow.snapshot()


def test_a_save_writes_only_the_calls_an_event_touched() -> None:
    now = [datetime(2026, 11, 22, tzinfo=UTC)]
    flow = new_flow(now)
    kept = KeptParts(flow)
    for n in range(50):  # fifty callers in the greeting
        flow.handle({"Event": "Newchannel", "Linkedid": f"{n}.1", "Uniqueid": f"{n}.1", "Context": "incoming",
                     "Channel": f"PJSIP/trunk-{n:08x}", "CallerIDNum": f"8495000{n:04d}"})
    kept.save()
    before = kept.written
    flow.handle({"Event": "QueueCallerJoin", "Linkedid": "7.1", "Uniqueid": "7.1", "Queue": "support",
                 "CallerIDNum": "84950000007"})
    assert kept.save() == flow.snapshot()
    assert kept.written - before == 1

"""The AMI adapter and the call state machine on every recorded session, without servers."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from asterisk.ami_message import parse_headers
from asterisk.events import AmiCallFlow, device_of, leg_id
from callercard.calls.state import CallTracker, Effects
from tests.support.captures import capture_path
from tests.support.scenarios import DEMO_AGENTS, SCENARIOS

DEVICES = {device: agent for agent, spec in DEMO_AGENTS.items() for device in spec["devices"]}
T0 = datetime(2026, 11, 22, tzinfo=UTC)


def replay_effects(name: str) -> list[Effects]:
    """Every recorded event of a capture through the adapter, with the recorded timing as the clock."""
    now = [T0]
    flow = AmiCallFlow(tracker=CallTracker(), agent_for_device=DEVICES.get, inbound_contexts=["incoming"],
                       clock=lambda: now[0])
    replay_effects.flow = flow  # type: ignore[attr-defined]
    results = []
    for line in capture_path(f"{name}.jsonl").read_text().splitlines()[1:]:
        entry = json.loads(line)
        if entry["dir"] != "in" or not entry["raw"].startswith("Event:"):
            continue
        now[0] = T0 + timedelta(seconds=entry["t"])
        results.append(flow.handle(parse_headers(entry["raw"])))  # as the listener reads it
    return results


def replay(name: str) -> tuple[AmiCallFlow, dict[str, list[str]], list, list]:
    seen: dict[str, list[str]] = defaultdict(list)
    lookups, finished = [], []
    for effects in replay_effects(name):
        for notice in effects.notices:
            seen[notice.agent_id].append(notice.event.value)
        lookups += effects.lookups
        finished += effects.finished
    return replay_effects.flow, dict(seen), lookups, finished  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_agent_sees_what_the_captures_readme_says(name: str) -> None:
    flow, seen, _, finished = replay(name)
    caller, expected, outcome, answered_by = SCENARIOS[name]
    assert seen == expected
    assert len(finished) == 1, "exactly one finished call per capture"
    [call] = finished
    assert flow.tracker.outcome(call).value == outcome
    assert [leg.agent_id for leg in call.answered_legs] == answered_by
    assert call.number == caller
    assert flow.tracker.calls == {} and flow.channels == {}, "finished calls are purged"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_lookup_starts_once_before_the_first_ring(name: str) -> None:
    _, _, lookups, finished = replay(name)
    caller, *_ = SCENARIOS[name]
    assert lookups == [(caller, finished[0].call_id)]


def test_click_to_dial_originate_noise_produces_no_inbound_popup() -> None:
    _, seen, lookups, finished = replay("click_to_dial")
    assert (seen, lookups, finished) == ({}, [], [])


def test_replaying_every_event_twice_changes_nothing() -> None:
    flow = AmiCallFlow(tracker=CallTracker(), agent_for_device=DEVICES.get, inbound_contexts=["incoming"])
    seen: list[tuple[str, str]] = []
    for line in capture_path("ringall_one_answers.jsonl").read_text().splitlines()[1:]:
        entry = json.loads(line)
        if entry["dir"] == "in" and entry["raw"].startswith("Event:"):
            headers = parse_headers(entry["raw"])
            for _ in range(2):
                seen += [(n.agent_id, n.event.value) for n in flow.handle(headers).notices]
    assert seen.count(("vera", "answered")) == 1 and seen.count(("anna", "dismissed")) == 1


def test_a_ringing_popup_closes_when_its_channel_hangs_up_without_queue_events() -> None:
    tracker = CallTracker()
    flow = AmiCallFlow(tracker=tracker, agent_for_device=DEVICES.get, inbound_contexts=["incoming"])
    flow.handle({"Event": "Newchannel", "Linkedid": "1.1", "Uniqueid": "1.1", "Context": "incoming",
                 "CallerIDNum": "84951234567"})
    ring = flow.handle({"Event": "AgentCalled", "Linkedid": "1.1", "DestChannel": "Local/201@agents-00000001;1",
                        "Queue": "support", "CallerIDNum": "84951234567"})
    gone = flow.handle({"Event": "Hangup", "Linkedid": "1.1", "Uniqueid": "1.5",
                        "Channel": "Local/201@agents-00000001;2", "Cause": "16"})
    assert [n.event.value for n in ring.notices + gone.notices] == ["ringing", "dismissed"]


def test_after_a_reconnect_calls_asterisk_no_longer_has_are_ended() -> None:
    flow = AmiCallFlow(tracker=CallTracker(), agent_for_device=DEVICES.get, inbound_contexts=["incoming"])
    flow.handle({"Event": "Newchannel", "Linkedid": "1.1", "Uniqueid": "1.1", "Context": "incoming"})
    flow.handle({"Event": "AgentCalled", "Linkedid": "1.1", "DestChannel": "Local/201@agents-0000002a;1", "Queue": "q"})
    flow.handle({"Event": "Newchannel", "Linkedid": "2.2", "Uniqueid": "2.2", "Context": "incoming"})
    effects = flow.end_missing({"2.2"})
    assert [call.call_id for call in effects.finished] == ["1.1"]
    assert [(n.agent_id, n.event.value, n.call_id) for n in effects.notices] == [("anna", "dismissed", "1.1")]
    assert flow.live_calls() == ["2.2"]


@pytest.mark.parametrize(("channel", "leg", "device"), [
    ("Local/201@agents-00000004;1", "Local/201@agents-00000004", "Local/201@agents"),
    ("Local/201@agents-00000004;2", "Local/201@agents-00000004", "Local/201@agents"),
    ("PJSIP/201-0000002a", "PJSIP/201-0000002a", "PJSIP/201"),
    ("PJSIP/trunk-a-0000002a", "PJSIP/trunk-a-0000002a", "PJSIP/trunk-a"),
])
def test_a_channel_maps_to_its_device_by_cutting_at_the_last_dash(channel: str, leg: str, device: str) -> None:
    assert (leg_id(channel), device_of(channel)) == (leg, device)

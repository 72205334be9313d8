"""The AMI adapter and the call state machine on every recorded session, without servers."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from asterisk.events import AmiCallFlow, device_of, leg_id
from callercard.calls.records import call_record
from callercard.calls.state import CallTracker, Effects
from tests.support.recorded_calls import recorded_call, recorded_events
from tests.support.scenarios import DEMO_AGENTS, SCENARIOS

DEVICES = {device: agent for agent, spec in DEMO_AGENTS.items() for device in spec["devices"]}
NAMES = {agent: spec["name"] for agent, spec in DEMO_AGENTS.items()}
T0 = datetime(2026, 11, 22, tzinfo=UTC)


def new_flow(now: list[datetime]) -> AmiCallFlow:
    return AmiCallFlow(tracker=CallTracker(), agent_for_device=DEVICES.get, agent_name=NAMES.get,
                       inbound_contexts=["incoming"], clock=lambda: now[0])


def replay_effects(name: str) -> list[Effects]:
    """Every recorded event of a capture through the adapter, parsed as the listener parses it, with the
    recorded timing as the receive clock (events with a Timestamp header carry their own time)."""
    now = [T0]
    flow = new_flow(now)
    replay_effects.flow = flow  # type: ignore[attr-defined]
    results = []
    for at, event in recorded_events(name):
        now[0] = at
        results.append(flow.handle(event))
    return results


def replay(name: str) -> tuple[AmiCallFlow, dict[str, list[tuple[str, str | None]]], list, list, list]:
    seen: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    lookups, finished, cards = [], [], []
    for effects in replay_effects(name):
        for notice in effects.notices:
            seen[notice.agent_id].append((notice.event.value, notice.reason))
        lookups += effects.lookups
        finished += effects.finished
        cards += effects.cards
    return replay_effects.flow, dict(seen), lookups, finished, cards  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_agent_sees_what_the_captures_readme_says(name: str) -> None:
    flow, seen, _, finished, _ = replay(name)
    expected = SCENARIOS[name]
    assert seen == expected.events
    assert len(finished) == 1, "exactly one finished call per capture"
    assert flow.tracker.calls == {} and flow.channels == {}, "finished calls are purged"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_call_is_logged_as_it_happened(name: str) -> None:
    flow, _, _, [call], _ = replay(name)
    expected = SCENARIOS[name]
    record = call_record(call, tracker=flow.tracker, region="RU")
    assert {key: record[key] for key in ("outcome", "answered_by", "transfers", "direction", "queues")} == {
        "outcome": expected.outcome, "answered_by": expected.answered_by, "transfers": expected.transfers,
        "direction": expected.direction, "queues": expected.queues}
    assert [(leg["agent_id"], leg["result"]) for leg in record["agents"]] == expected.legs
    assert record["caller"]["number"] == expected.caller
    recorded = recorded_call(list(recorded_events(name)))
    assert record["wait_seconds"] == pytest.approx(recorded.wait_seconds, abs=recorded.slack)
    assert record["talk_seconds"] == pytest.approx(recorded.talk_seconds, abs=recorded.slack)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_card_is_known_before_the_first_ring(name: str) -> None:
    """An inbound caller's lookup starts once, before any phone rings; a colleague's card needs no lookup."""
    _, _, lookups, [call], cards = replay(name)
    expected = SCENARIOS[name]
    if expected.direction == "internal":
        assert lookups == []
        assert [(call_id, card["kind"], card["display_name"], card["number"]) for call_id, card in cards] == [
            (call.call_id, *expected.card, expected.caller)]
    else:
        assert (lookups, cards) == ([(expected.caller, call.call_id)], [])


def test_click_to_dial_originate_noise_produces_no_inbound_popup() -> None:
    _, seen, lookups, finished, cards = replay("click_to_dial")
    assert (seen, lookups, finished, cards) == ({}, [], [], [])


def test_replaying_every_event_twice_changes_nothing() -> None:
    flow = AmiCallFlow(tracker=CallTracker(), agent_for_device=DEVICES.get, inbound_contexts=["incoming"])
    seen: list[tuple[str, str]] = []
    for _, headers in recorded_events("ringall_one_answers"):
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
    assert list(flow.channels) == ["2.2"]


@pytest.mark.parametrize(("channel", "leg", "device"), [
    ("Local/201@agents-00000004;1", "Local/201@agents-00000004", "Local/201@agents"),
    ("Local/201@agents-00000004;2", "Local/201@agents-00000004", "Local/201@agents"),
    ("PJSIP/201-0000002a", "PJSIP/201-0000002a", "PJSIP/201"),
    ("PJSIP/trunk-a-0000002a", "PJSIP/trunk-a-0000002a", "PJSIP/trunk-a"),
])
def test_a_channel_maps_to_its_device_by_cutting_at_the_last_dash(channel: str, leg: str, device: str) -> None:
    assert (leg_id(channel), device_of(channel)) == (leg, device)

"""Rules of the AMI call flow that the recorded captures do not exercise, on minimal events (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from asterisk.events import AmiCallFlow
from callercard.calls.pbx_events import HttpCallFlow, PbxEvent
from callercard.calls.state import CallTracker
from tests.support.scenarios import DEMO_AGENTS

DEVICES = {device: agent for agent, spec in DEMO_AGENTS.items() for device in spec["devices"]}
T0 = datetime(2026, 11, 22, tzinfo=UTC)


def flow_at(now: list[datetime]) -> AmiCallFlow:
    return AmiCallFlow(tracker=CallTracker(), agent_for_device=DEVICES.get, inbound_contexts=["incoming"],
                       clock=lambda: now[0], agent_name=lambda agent: DEMO_AGENTS[agent]["name"])


def test_a_phone_placed_consultation_merged_by_a_linkedid_rewrite_leaves_nothing_open() -> None:
    """Anna answers a customer (call 1.1), her phone calls Vera (call 2.2, internal), then transfers: Asterisk
    bridges Vera with the caller and rewrites her channel's Linkedid to the oldest, 1.1."""
    flow = flow_at([T0])
    events = [
        {"Event": "Newchannel", "Linkedid": "1.1", "Uniqueid": "1.1", "Channel": "PJSIP/trunk-01",
         "Context": "incoming", "CallerIDNum": "84951234567"},
        {"Event": "DialBegin", "Linkedid": "1.1", "Uniqueid": "1.1", "Channel": "PJSIP/trunk-01",
         "DestChannel": "PJSIP/201-02", "DestUniqueid": "1.2"},
        {"Event": "DialEnd", "Linkedid": "1.1", "Channel": "PJSIP/trunk-01", "DestChannel": "PJSIP/201-02",
         "DialStatus": "ANSWER"},
        {"Event": "Newchannel", "Linkedid": "2.2", "Uniqueid": "2.2", "Channel": "PJSIP/201-03", "Context": "internal"},
        {"Event": "DialBegin", "Linkedid": "2.2", "Uniqueid": "2.2", "Channel": "PJSIP/201-03",
         "DestChannel": "PJSIP/203-04", "DestUniqueid": "2.3", "CallerIDNum": "201"},
        {"Event": "DialEnd", "Linkedid": "2.2", "Channel": "PJSIP/201-03", "DestChannel": "PJSIP/203-04",
         "DialStatus": "ANSWER"},
        {"Event": "AttendedTransfer", "Result": "Success", "OrigTransfererChannel": "PJSIP/201-02",
         "OrigTransfererLinkedid": "1.1", "SecondTransfererChannel": "PJSIP/201-03", "SecondTransfererLinkedid": "2.2",
         "TransfereeChannel": "PJSIP/trunk-01", "TransfereeLinkedid": "1.1", "TransferTargetChannel": "PJSIP/203-04",
         "TransferTargetUniqueid": "2.3", "TransferTargetLinkedid": "2.2"},
        {"Event": "Hangup", "Linkedid": "1.1", "Uniqueid": "1.2", "Channel": "PJSIP/201-02", "Cause": "16"},
        {"Event": "Hangup", "Linkedid": "2.2", "Uniqueid": "2.2", "Channel": "PJSIP/201-03", "Cause": "16"},
        {"Event": "Hangup", "Linkedid": "1.1", "Uniqueid": "2.3", "Channel": "PJSIP/203-04", "Cause": "16"},
        {"Event": "Hangup", "Linkedid": "1.1", "Uniqueid": "1.1", "Channel": "PJSIP/trunk-01", "Cause": "16"},
    ]
    seen, finished = [], []
    for event in events:
        effects = flow.handle(event)
        seen += [(n.call_id, n.agent_id, n.event.value, n.reason) for n in effects.notices]
        finished += effects.finished
    assert seen == [
        ("1.1", "anna", "ringing", None), ("1.1", "anna", "answered", None),
        ("2.2", "vera", "ringing", None), ("2.2", "vera", "answered", None),
        ("1.1", "anna", "ended", "transferred"),
        ("2.2", "vera", "ended", "transferred"), ("1.1", "vera", "answered", None),
        ("1.1", "vera", "ended", "hangup")]
    assert [(call.call_id, call.direction, [(leg.agent_id, leg.result) for leg in call.legs.values()])
            for call in finished] == [
        ("2.2", "internal", [("vera", "transferred")]),
        ("1.1", "inbound", [("anna", "transferred"), ("vera", "answered")])]
    assert flow.tracker.calls == {} and flow.channels == {}


def test_event_times_come_from_the_timestamp_header_else_from_when_they_arrived() -> None:
    now = [T0]
    flow = flow_at(now)
    stamped = T0 - timedelta(seconds=2.5)
    flow.handle({"Event": "Newchannel", "Linkedid": "1.1", "Uniqueid": "1.1", "Context": "incoming",
                 "Timestamp": f"{stamped.timestamp():.6f}"})
    [ring] = flow.handle({"Event": "AgentCalled", "Linkedid": "1.1", "DestChannel": "PJSIP/201-01",
                          "Queue": "support"}).notices
    assert (flow.tracker.calls["1.1"].entered_at, ring.at) == (stamped, T0)


def test_an_http_feed_call_without_events_expires_and_closes_its_popups() -> None:
    now = [T0]
    flow = HttpCallFlow(tracker=CallTracker(), clock=lambda: now[0])
    flow.handle(PbxEvent.model_validate({"event": "newCall", "callId": "h1", "from": "84951234567"}))
    flow.handle(PbxEvent.model_validate({"event": "ringing", "callId": "h1", "agent": "anna", "queue": "support"}))
    now[0] = T0 + timedelta(seconds=100)
    assert flow.expire_idle(call_idle_seconds=600, ring_idle_seconds=120).notices == []
    now[0] = T0 + timedelta(seconds=130)
    dismissed = flow.expire_idle(call_idle_seconds=600, ring_idle_seconds=120)
    assert [(n.agent_id, n.event.value, n.reason) for n in dismissed.notices] == [("anna", "dismissed", "expired")]
    now[0] = T0 + timedelta(seconds=601)
    ended = flow.expire_idle(call_idle_seconds=600, ring_idle_seconds=120)
    assert [call.call_id for call in ended.finished] == ["h1"] and flow.tracker.calls == {}

"""After a gap in the listener's view of the PBX (resync, hand-over), and the call-record outbox; no servers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from asterisk.ami_message import parse_headers
from asterisk.events import AmiCallFlow
from callercard.calls.outbox import TaskOutbox
from callercard.calls.state import CallTracker
from tests.support.scenarios import DEMO_AGENTS

DEVICES = {device: agent for agent, spec in DEMO_AGENTS.items() for device in spec["devices"]}
T0 = datetime(2026, 11, 22, tzinfo=UTC)
ANNA, BORIS = "Local/201@agents-0000002a", "Local/202@agents-0000002b"


def flow_at(now: list[datetime]) -> AmiCallFlow:
    return AmiCallFlow(tracker=CallTracker(), agent_for_device=DEVICES.get, inbound_contexts=["incoming"],
                       clock=lambda: now[0])


def ringing_call(flow: AmiCallFlow) -> None:
    flow.handle({"Event": "Newchannel", "Linkedid": "1.1", "Uniqueid": "1.1", "Context": "incoming",
                 "CallerIDNum": "84951234567"})
    for uid, leg in (("1.2", ANNA), ("1.3", BORIS)):
        flow.handle({"Event": "Newchannel", "Linkedid": "1.1", "Uniqueid": uid, "Channel": f"{leg};1"})
        flow.handle({"Event": "AgentCalled", "Linkedid": "1.1", "DestChannel": f"{leg};1", "Queue": "sales"})


def channel(uid: str, name: str, state: str, linkedid: str = "1.1", **extra: str) -> dict[str, str]:
    return {"Event": "CoreShowChannel", "Uniqueid": uid, "Linkedid": linkedid, "Channel": name,
            "ChannelState": state, **extra}


def test_resync_ends_legs_that_hung_up_and_answers_legs_picked_up_while_the_link_was_down() -> None:
    now = [T0]
    flow = flow_at(now)
    ringing_call(flow)
    now[0] = T0 + timedelta(seconds=10)
    effects = flow.resynchronize([channel("1.1", "Local/sales@incoming-1;1", "6", Context="incoming"),
                                  channel("1.3", f"{BORIS};1", "6")], asked_at=now[0])
    assert [(n.agent_id, n.event.value, n.reason) for n in effects.notices] == [
        ("anna", "dismissed", "hangup"), ("boris", "answered", None)]
    # Anna's channel will send no Hangup now; the call still ends when its last live channels hang up.
    assert not flow.handle({"Event": "Hangup", "Linkedid": "1.1", "Uniqueid": "1.3"}).finished
    [call] = flow.handle({"Event": "Hangup", "Linkedid": "1.1", "Uniqueid": "1.1"}).finished
    assert call.answered_legs[0].agent_id == "boris"


def test_resync_adopts_an_inbound_call_that_began_unseen_and_leaves_newer_calls_alone() -> None:
    now = [T0 + timedelta(minutes=1)]
    flow = flow_at(now)
    effects = flow.resynchronize([
        channel("5.5", "PJSIP/trunk-00000001", "6", linkedid="5.5", Context="incoming", CallerIDNum="84957654321",
                Application="Queue", ApplicationData="support,t", Duration="00:00:12"),
        channel("5.6", f"{ANNA};1", "5", linkedid="5.5"),
        channel("5.7", f"{ANNA};2", "4", linkedid="5.5"),
        channel("6.6", "PJSIP/202-00000009", "6", linkedid="6.6", Context="internal")], asked_at=now[0])
    assert effects.lookups == [("84957654321", "5.5")]
    assert [(n.agent_id, n.event.value, n.queue) for n in effects.notices] == [("anna", "ringing", "support")]
    call = flow.tracker.calls["5.5"]
    assert (call.entered_at, call.queues) == (now[0] - timedelta(seconds=12), ["support"])
    assert "6.6" not in flow.tracker.calls, "only inbound calls are adopted"


def test_a_stopped_listeners_calls_survive_a_json_round_trip_into_its_successor() -> None:
    now = [T0]
    old = flow_at(now)
    ringing_call(old)
    old.handle({"Event": "AgentConnect", "Linkedid": "1.1", "DestChannel": f"{ANNA};1"})
    snapshot = json.loads(json.dumps(old.snapshot()))
    new = flow_at(now)
    assert new.restore(snapshot) == 1
    effects = new.resynchronize([], asked_at=T0 + timedelta(seconds=5))  # the call ended during the restart
    [call] = effects.finished
    assert [(n.agent_id, n.event.value) for n in effects.notices] == [("anna", "ended")]
    assert [leg.result for leg in call.legs.values()] == ["answered", "answered_elsewhere"]


def test_a_repeated_header_is_read_as_its_last_value() -> None:
    flow = flow_at([T0])
    flow.handle(parse_headers("Event: Newchannel\r\nLinkedid: 9.9\r\nLinkedid: 1.1\r\nUniqueid: 1.1\r\n"
                              "Context: incoming\r\n"))
    assert list(flow.tracker.calls) == ["1.1"]


async def test_the_outbox_keeps_every_hand_off_in_order_while_sending_fails() -> None:
    sent: list[Any] = []
    broker_up = asyncio.Event()

    async def send(items: list[tuple[str, list[Any], dict[str, Any]]]) -> int:
        if not broker_up.is_set():
            raise ConnectionError("broker down")
        sent.extend(args[0] for _, args, _ in items)
        return len(items)

    outbox = TaskOutbox(send, retry_initial=0.01, retry_max=0.02)
    running = asyncio.create_task(outbox.run())
    for n in range(5):
        outbox.put("record", [n], {})
    await asyncio.sleep(0.1)
    assert (sent, outbox.pending, outbox.broker_down) == ([], 5, True)
    broker_up.set()
    async with asyncio.timeout(2):
        while outbox.pending:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    running.cancel()
    assert (sent, outbox.broker_down) == ([0, 1, 2, 3, 4], False)


async def test_the_outbox_sends_what_waits_in_batches_and_resends_what_the_broker_did_not_take() -> None:
    """One hand-over (one thread hop in the Celery adapter) per batch, in order; a batch the broker took only in
    part is resent from the first record it did not take, so nothing is lost and nothing sent twice."""
    sent: list[Any] = []
    batches: list[int] = []

    async def send(items: list[tuple[str, list[Any], dict[str, Any]]]) -> int:
        batches.append(len(items))
        taken = 3 if len(batches) == 1 else len(items)  # the first hand-over: the broker fails after 3
        sent.extend(args[0] for _, args, _ in items[:taken])
        return taken

    outbox = TaskOutbox(send, retry_initial=0.01, retry_max=0.02, batch=100)
    for n in range(250):
        outbox.put("record", [n], {})
    running = asyncio.create_task(outbox.run())
    async with asyncio.timeout(2):
        while outbox.pending:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    running.cancel()
    assert sent == list(range(250))
    assert batches == [100, 100, 100, 47]  # 3 taken of the first; then from record 3 on
    assert (outbox.sent, outbox.broker_down) == (250, False)


def test_a_reconcile_does_not_take_a_colleagues_own_phone_for_a_phone_being_rung() -> None:
    now = [T0]
    flow = flow_at(now)
    flow.handle({"Event": "Newchannel", "Linkedid": "7.7", "Uniqueid": "7.7", "Channel": "PJSIP/201-00000001",
                 "Context": "internal"})
    flow.handle({"Event": "DialBegin", "Linkedid": "7.7", "Uniqueid": "7.7", "Channel": "PJSIP/201-00000001",
                 "DestChannel": "PJSIP/202-00000002", "DestUniqueid": "7.8", "CallerIDNum": "201"})
    now[0] = T0 + timedelta(seconds=5)
    effects = flow.resynchronize([channel("7.7", "PJSIP/201-00000001", "6", linkedid="7.7", Context="internal"),
                                  channel("7.8", "PJSIP/202-00000002", "6", linkedid="7.7")], asked_at=now[0])
    assert [(n.agent_id, n.event.value) for n in effects.notices] == [("boris", "answered")]
    assert flow.tracker.calls["7.7"].direction == "internal"

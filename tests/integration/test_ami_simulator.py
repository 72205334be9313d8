"""The capture-replaying AMI simulator, driven by panoramisk (the AMI client library the listener uses).

Expectations are computed straight from the recorded JSON Lines, not through the simulator's capture model; their
headers are read with the product's one AMI parser (``asterisk.ami_message``, tested in tests/unit).
panoramisk 1.4 pitfalls handled here: its actions have no timeout (always ``asyncio.wait_for``), and its
``close()`` leaves a scheduled reconnect alive (``_Manager`` below stays closed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from panoramisk import Manager
from panoramisk.message import Message

from amisim import AmiSimulator, Capture, clone_with_fresh_ids, fresh_ids, load_capture, recorded_responses
from asterisk.ami_message import parse_headers
from asterisk.event_filter import LISTENER_EVENTS, filter_action, filter_regex
from tests.support.captures import CAPTURES_DIR

CAPTURES = CAPTURES_DIR
USERNAME, SECRET = "callercard", "capture-secret"
SPEED = 20.0
CALL_CAPTURES = sorted(p.name.removesuffix(".jsonl") for p in CAPTURES.glob("*.jsonl")
                       if not p.name.endswith(".http.jsonl") and p.name != "login_failed.jsonl")


# --- the recordings, read independently of the simulator --------------------------------------------------

def recorded(name: str) -> list[dict[str, Any]]:
    lines = (CAPTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[1:] if line.strip()]


def headers(raw: str) -> dict[str, str]:
    return parse_headers(raw)


def login_response_index(entries: list[dict[str, Any]]) -> int:
    login_id = next(headers(e["raw"])["ActionID"] for e in entries
                    if e["dir"] == "out" and headers(e["raw"]).get("Action") == "Login")
    return next(i for i, e in enumerate(entries)
                if e["dir"] == "in" and headers(e["raw"]).get("ActionID") == login_id)


def expected_stream(name: str) -> list[str]:
    """What Asterisk sent after the login response, minus the replies to the recording client's actions
    (OriginateResponse stays: Asterisk broadcasts it to every session)."""
    entries = recorded(name)
    out_ids = {headers(e["raw"]).get("ActionID") for e in entries if e["dir"] == "out"}
    result = []
    for e in entries[login_response_index(entries) + 1:]:
        h = headers(e["raw"])
        if e["dir"] == "in" and not (h.get("ActionID") in out_ids and h.get("Event") != "OriginateResponse"):
            result.append(e["raw"])
    return result


# --- a panoramisk client ------------------------------------------------------------------------------------

class _Manager(Manager):
    """panoramisk's ``close()`` does not cancel a reconnect already scheduled by ``connection_lost``."""

    closed = False

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        return None if self.closed else super().connect(*args, **kwargs)

    def close(self) -> None:
        self.closed = True
        super().close()


class Client:
    def __init__(self, sim: AmiSimulator, *, secret: str = SECRET) -> None:
        self.events: list[Message] = []
        self.connects = self.logins = self.disconnects = 0
        self.login_futures: list[asyncio.Future[Any]] = []
        self.manager = _Manager(host=sim.host, port=sim.port, username=USERNAME, secret=secret,
                                loop=asyncio.get_running_loop(), ping_delay=60, reconnect_timeout=0,
                                on_connect=self._connected, on_login=self._logged_in,
                                on_disconnect=self._disconnected)
        self.manager.register_event("*", lambda _manager, event: self.events.append(event))

    def _connected(self, manager: Manager) -> None:
        self.connects += 1
        self.login_futures.append(manager.authenticated_future)

    def _logged_in(self, _manager: Manager) -> None:
        self.logins += 1

    def _disconnected(self, _manager: Manager, _exc: Any) -> None:
        self.disconnects += 1

    def names(self) -> list[str]:
        return [event.event for event in self.events]

    async def action(self, action: dict[str, str], *, timeout: float = 2.0, **kwargs: Any) -> Any:
        return await asyncio.wait_for(self.manager.send_action(action, **kwargs), timeout)


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


class Harness:
    def __init__(self) -> None:
        self.sims: list[AmiSimulator] = []
        self.clients: list[Client] = []

    async def sim(self, capture: str | Capture, **kwargs: Any) -> AmiSimulator:
        if isinstance(capture, str):
            capture = load_capture(CAPTURES / f"{capture}.jsonl")
        kwargs.setdefault("speed", SPEED)
        sim = AmiSimulator(capture, username=USERNAME, secret=SECRET, **kwargs)
        await sim.start()
        self.sims.append(sim)
        return sim

    async def client(self, sim: AmiSimulator, **kwargs: Any) -> Client:
        client = Client(sim, **kwargs)
        self.clients.append(client)
        await client.manager.connect()
        return client

    async def logged_in(self, sim: AmiSimulator) -> Client:
        client = await self.client(sim)
        await eventually(lambda: client.logins == 1)
        return client

    async def close(self) -> None:
        for client in self.clients:
            client.manager.close()
        for sim in self.sims:
            await sim.stop()
        await asyncio.sleep(0.01)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    harness = Harness()
    try:
        yield harness
    finally:
        await harness.close()


async def read_message(reader: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)).decode()


def login_action(action_id: str, secret: str = SECRET) -> bytes:
    return (f"Action: Login\r\nActionID: {action_id}\r\nUsername: {USERNAME}\r\n"
            f"Secret: {secret}\r\n\r\n").encode()


# --- tests --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CALL_CAPTURES)
async def test_login_then_the_capture_events_arrive_in_order(harness: Harness, name: str) -> None:
    expected = [headers(raw)["Event"] for raw in expected_stream(name) if raw.startswith("Event: ")]
    sim = await harness.sim(name, speed=50)
    client = await harness.logged_in(sim)
    await sim.wait_finished(5)
    await eventually(lambda: len(client.events) >= len(expected))
    assert client.names() == expected
    assert expected[0] == "FullyBooted"


async def test_replay_is_byte_exact(harness: Harness) -> None:
    name = "decline_then_next_agent"
    entries = recorded(name)
    login_response = entries[login_response_index(entries)]["raw"]
    recorded_id = headers(login_response)["ActionID"]
    expected = (entries[1]["raw"] + login_response.replace(f"ActionID: {recorded_id}", "ActionID: t1")
                + "".join(expected_stream(name))).encode()
    assert entries[1]["raw"] == "Asterisk Call Manager/11.0.0\r\n"
    sim = await harness.sim(name, speed=50)
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    try:
        writer.write(login_action("t1"))
        assert await asyncio.wait_for(reader.readexactly(len(expected)), 5) == expected
        writer.write(b"Action: Logoff\r\nActionID: t2\r\n\r\n")
        goodbye = await asyncio.wait_for(reader.read(), 2)  # then Asterisk closes the session
        assert goodbye == b"Response: Goodbye\r\nActionID: t2\r\nMessage: Thanks for all the fish.\r\n\r\n"
    finally:
        writer.close()
        await writer.wait_closed()


async def test_wrong_secret_gets_the_recorded_failure_then_the_connection_closes(harness: Harness) -> None:
    banner, login, failure = recorded("login_failed")
    sim = await harness.sim("answered_agent_hangs_up")
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    try:
        started = loop.time()
        writer.write(login["raw"].encode())  # the recorded Login with the wrong secret
        assert (await asyncio.wait_for(reader.read(), 3)).decode() == banner["raw"] + failure["raw"]
        assert loop.time() - started >= 0.9 * (failure["t"] - login["t"]) / SPEED  # Asterisk's sleep(1)
    finally:
        writer.close()
        await writer.wait_closed()
    assert sim.received_actions[0]["Secret"] == "wrong-secret"


async def test_wrong_secret_with_panoramisk(harness: Harness) -> None:
    sim = await harness.sim("answered_agent_hangs_up")
    client = await harness.client(sim, secret="not-the-secret")
    await eventually(lambda: client.disconnects >= 1)
    client.manager.close()
    response = client.login_futures[0].result()
    assert (response.response, response.message) == ("Error", "Authentication failed")
    assert client.logins == 0 and not client.manager.authenticated
    assert client.events == []


async def test_ping_gets_pong(harness: Harness) -> None:
    sim = await harness.sim("member_login_logout")
    client = await harness.logged_in(sim)
    response = await client.action({"Action": "Ping"})
    assert (response.response, response.ping) == ("Success", "Pong")
    assert float(response.timestamp) > 0
    assert sim.received_actions[-1] == {"Action": "Ping", "ActionID": response.actionid}


async def test_core_show_channels_lists_the_live_channels_mid_replay(harness: Harness) -> None:
    name = "answered_agent_hangs_up"
    entries = recorded(name)
    # The recording client polled CoreShowChannels once Anna's leg was bridged (two BridgeEnter events).
    bridged_at = [e["t"] for e in entries if e["raw"].startswith("Event: BridgeEnter")][1]
    poll = next(headers(e["raw"])["ActionID"] for e in entries if e["t"] > bridged_at
                and e["dir"] == "out" and headers(e["raw"]).get("Action") == "CoreShowChannels")
    real = [headers(e["raw"]) for e in entries if e["raw"].startswith("Event: CoreShowChannel\r\n")
            and headers(e["raw"])["ActionID"] == poll]
    keys = ("Channel", "Uniqueid", "Linkedid", "ChannelState", "ChannelStateDesc", "CallerIDNum",
            "Context", "Exten")

    def table(items: list[Any]) -> list[tuple[str, ...]]:
        return sorted(tuple(item[k] for k in keys) for item in items)

    sim = await harness.sim(name, speed=10)
    client = await harness.logged_in(sim)
    await eventually(lambda: client.names().count("BridgeEnter") == 2)
    reply = await client.action({"Action": "CoreShowChannels"})
    assert (reply[0].response, reply[0].eventlist) == ("Success", "start")
    assert reply[0].message == "Channels will follow"
    assert reply[-1].event == "CoreShowChannelsComplete" and reply[-1].listitems == "4"
    assert {item.event for item in reply[1:-1]} == {"CoreShowChannel"}
    assert table(reply[1:-1]) == table(real)

    await sim.wait_finished(5)
    reply = await client.action({"Action": "CoreShowChannels"})
    assert [m.get("Event") or m.get("Response") for m in reply] == ["Success", "CoreShowChannelsComplete"]
    assert reply[-1].listitems == "0"


async def test_drop_connections_makes_panoramisk_reconnect(harness: Harness) -> None:
    sim = await harness.sim("member_login_logout")
    client = await harness.logged_in(sim)
    await sim.drop_connections()
    await eventually(lambda: client.disconnects == 1 and client.logins == 2)
    assert client.connects == 2
    assert [action["Action"] for action in sim.received_actions].count("Login") == 2
    await eventually(lambda: client.names().count("FullyBooted") == 2)  # a fresh session, a fresh replay
    assert (await client.action({"Action": "Ping"})).ping == "Pong"


async def test_silent_link_stays_open_and_answers_nothing(harness: Harness) -> None:
    sim = await harness.sim("member_login_logout")
    client = await harness.logged_in(sim)
    sim.go_silent()
    assert sim.silent
    with pytest.raises(TimeoutError):
        await client.action({"Action": "Ping"}, timeout=0.3)
    assert sim.received_actions[-1]["Action"] == "Ping"
    assert client.disconnects == 0 and sim.connections == 1
    sim.resume()
    assert (await client.action({"Action": "Ping"})).ping == "Pong"


async def test_recorded_responses_replay_the_real_errors(harness: Harness) -> None:
    capture = load_capture(CAPTURES / "member_pause_remove_add.jsonl")
    sim = await harness.sim(capture, responses=recorded_responses(capture))
    client = await harness.logged_in(sim)
    anna, boris = "Local/201@agents/n", "Local/202@agents/n"
    pause = await client.action({"Action": "QueuePause", "Queue": "support", "Interface": anna,
                                 "Paused": "true", "Reason": "lunch"})
    assert (pause.response, pause.message) == ("Success", "Interface paused successfully")
    remove = await client.action({"Action": "QueueRemove", "Queue": "support", "Interface": boris})
    assert (remove.response, remove.message) == ("Error", "Member not dynamic")
    add = await client.action({"Action": "QueueAdd", "Queue": "support", "Interface": boris})
    assert (add.response, add.message) == ("Error", "Unable to add interface: Already there")


async def test_builtin_answers(harness: Harness) -> None:
    sim = await harness.sim("member_login_logout")
    client = await harness.logged_in(sim)
    # panoramisk takes "Added interface to queue" for the start of a list: as_list=False or it never resolves
    add = await client.action({"Action": "QueueAdd", "Queue": "second", "Interface": "Local/201@agents/n"},
                              as_list=False)
    assert (add.response, add.message) == ("Success", "Added interface to queue")
    unpause = await client.action({"Action": "QueuePause", "Interface": "Local/201@agents/n",
                                   "Paused": "false"})
    assert unpause.message == "Interface unpaused successfully"
    setvar = await client.action({"Action": "Setvar", "Variable": "X", "Value": "1"})
    assert setvar.message == "Variable Set"
    unknown = await client.action({"Action": "NoSuchThing"})
    assert (unknown.response, unknown.message) == ("Error", "Invalid/unknown command")


async def test_async_originate_is_queued_then_answered_by_an_originate_response(harness: Harness) -> None:
    sim = await harness.sim("click_to_dial")
    client = await harness.logged_in(sim)
    queued, answered = await client.action({
        "Action": "Originate", "Channel": "Local/201@agents", "Context": "pstn", "Exten": "84951234567",
        "Priority": "1", "CallerID": '"Support" <201>', "Async": "true", "Variable": "CALLERCARD_CALL=c2d-1"})
    assert (queued.response, queued.message) == ("Success", "Originate successfully queued")
    assert (answered.event, answered.response, answered.reason) == ("OriginateResponse", "Success", "4")
    assert (answered["CallerIDNum"], answered["CallerIDName"]) == ("201", "Support")
    assert answered.channel.startswith("Local/201@agents-") and answered.channel.endswith(";1")


async def test_loop_forever_replays_fresh_calls(harness: Harness) -> None:
    sim = await harness.sim("abandon_during_greeting", speed=50, loop_forever=True)
    client = await harness.logged_in(sim)
    await eventually(lambda: sim.replays_finished >= 2 and client.names().count("Newchannel") >= 4)
    uniqueids = [event.uniqueid for event in client.events if event.event == "Newchannel"]
    assert len(set(uniqueids[:4])) == 4


async def test_garbage_and_oversized_input_do_not_break_the_server(harness: Harness) -> None:
    sim = await harness.sim("member_login_logout")
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    try:
        assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
        writer.write(b"\x00\xff\xfe: garbage\r\n\r\n")
        assert "Message: Missing action in request" in await read_message(reader)
        writer.write(b"Action: Ping\r\nActionID: p1\r\n\r\n")
        denied = "Response: Error\r\nActionID: p1\r\nMessage: Permission denied\r\n\r\n"
        assert await read_message(reader) == denied
        writer.write(b"x" * (70 * 1024))
        assert "Message too long" in await read_message(reader)
        writer.write(b"\r\n\r\n" + login_action("l1"))
        assert "Message: Authentication accepted" in await read_message(reader)
    finally:
        writer.close()
        await writer.wait_closed()
    client = await harness.logged_in(sim)  # and the server still serves others
    assert (await client.action({"Action": "Ping"})).ping == "Pong"


def test_clone_with_fresh_ids_rewrites_identifiers_consistently() -> None:
    original = load_capture(CAPTURES / "blind_transfer.jsonl")
    first, second = clone_with_fresh_ids(original, 1), clone_with_fresh_ids(original, 2)

    def identifiers(capture: Capture) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {"ids": set(), "channels": set(), "linkedids": set()}
        for entry in capture.entries:
            for key, value in entry.headers.items():
                if key.endswith(("Uniqueid", "Linkedid")) and value != "none":
                    found["ids"].add(value)
                if key.endswith("Linkedid") and value != "none":
                    found["linkedids"].add(value)
                if key.endswith("Channel") and ";" in value:  # a Local channel half, e.g. -00000032;1
                    found["channels"].add(value)
        return found

    before, after, again = identifiers(original), identifiers(first), identifiers(second)
    for kind in before:
        assert len(after[kind]) == len(before[kind]) > 0, kind
        assert not after[kind] & before[kind] and not after[kind] & again[kind], kind
    assert len(after["linkedids"]) == 1  # still one call
    mapping: dict[str, str] = {}
    for old, new in zip(original.entries, first.entries, strict=True):
        assert (old.t, old.dir, list(old.headers)) == (new.t, new.dir, list(new.headers))
        for key, value in old.headers.items():
            if key.endswith(("Uniqueid", "Linkedid", "Channel", "BridgeId")):
                assert mapping.setdefault(value, new.headers[key]) == new.headers[key], key
            elif key not in ("Value", "AppData"):
                assert new.headers[key] == value, key
    transfer = next(e for e in first.entries if e.dir == "out" and e.headers["Action"] == "BlindTransfer")
    assert transfer.headers["Channel"] in after["channels"]  # the client's own action follows the rewrite


@pytest.mark.parametrize("name", CALL_CAPTURES)
def test_the_load_pbx_replays_what_a_clone_would(name: str) -> None:
    """``fresh_ids(capture).replay`` (found once, joined per call) is the clone's replay, byte for byte."""
    original = load_capture(CAPTURES / f"{name}.jsonl")
    for suffix in (1, 2, 987_654):
        clone = clone_with_fresh_ids(original, suffix)
        linkedid, replay = fresh_ids(original).replay(suffix)
        assert replay == [(e.t, e.raw) for e in clone.replay_entries]
        assert linkedid == next((h["Linkedid"] for e in clone.replay_entries if (h := e.headers).get("Linkedid")),
                                None)
        assert linkedid is None or linkedid not in {h.get("Linkedid") for h in (e.headers for e in original.entries)}


async def test_a_session_logged_in_with_events_off_gets_answers_but_no_events(harness: Harness) -> None:
    sim = await harness.sim("ringall_one_answers", speed=50)
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    try:
        await asyncio.wait_for(reader.readline(), 2)  # banner
        writer.write(login_action("t1").replace(b"\r\n\r\n", b"\r\nEvents: off\r\n\r\n"))
        assert "Authentication accepted" in await read_message(reader)
        assert (await read_message(reader)).startswith("Event: FullyBooted")
        writer.write(b"Action: Ping\r\nActionID: t2\r\n\r\n")
        assert "Ping: Pong" in await read_message(reader), "the next message is the answer, not a replayed event"
        await asyncio.sleep(0.3)  # the whole capture would have been replayed by now at speed 50
        assert sim.replays_finished == 0
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_playlist_replays_each_capture_in_turn(harness: Harness) -> None:
    first, second = (load_capture(CAPTURES / f"{name}.jsonl") for name in ("answered_agent_hangs_up", "blind_transfer"))
    sim = await harness.sim(first, speed=50, then=[second])
    client = await harness.logged_in(sim)
    await sim.wait_finished(10)
    events = [[headers(raw)["Event"] for raw in expected_stream(name) if raw.startswith("Event: ")]
              for name in ("answered_agent_hangs_up", "blind_transfer")]
    expected = events[0] + events[1][1:]  # one login, so one FullyBooted
    await eventually(lambda: len(client.events) >= len(expected))
    assert client.names() == expected
    assert sim.replays_finished == 1


async def test_queue_status_lists_the_members_seen_in_the_replay(harness: Harness) -> None:
    sim = await harness.sim("member_login_logout", speed=1)  # members leave 0.6 s after the pause
    client = await harness.logged_in(sim)
    await eventually(lambda: "QueueMemberPause" in client.names())
    response = await client.action({"Action": "QueueStatus"})
    members = {(m["Name"], m["Paused"]) for m in response if m.get("Event") == "QueueMember"}
    assert members == {("Anna Smirnova", "0"), ("Boris Ivanov", "1")}


async def test_the_filter_action_keeps_out_what_the_listener_does_not_read(harness: Harness) -> None:
    """As Asterisk applies a session's Filter: the replayed call arrives with only the listed events, in order."""
    every = [headers(raw)["Event"] for raw in expected_stream("ringall_one_answers") if raw.startswith("Event: ")]
    sim = await harness.sim("ringall_one_answers", speed=50, shared_timeline=True)
    client = await harness.logged_in(sim)
    answer = await client.action(filter_action())
    assert (answer["Response"], answer["Message"]) == ("Success", "Success")
    sim.start_timeline()
    await sim.wait_finished(5)
    wanted = [name for name in every[1:] if name in LISTENER_EVENTS]  # FullyBooted came with the login
    await eventually(lambda: client.names()[1:] == wanted)
    await asyncio.sleep(0.1)
    assert client.names() == ["FullyBooted", *wanted]
    assert sim.events_filtered == len(every) - 1 - len(wanted) > 0


async def test_a_user_without_the_system_class_is_refused_filter_and_its_eventfilter_lines_filter(
        harness: Harness) -> None:
    """The shipped user: Filter is 'Permission denied'; the manager.conf eventfilter line filters from the login on."""
    every = [headers(raw)["Event"] for raw in expected_stream("ringall_one_answers") if raw.startswith("Event: ")]
    sim = await harness.sim("ringall_one_answers", speed=50, eventfilters=[filter_regex()], filter_permitted=False)
    client = await harness.logged_in(sim)
    answer = await client.action(filter_action())
    assert (answer["Response"], answer["Message"]) == ("Error", "Permission denied")
    await sim.wait_finished(5)
    # FullyBooted is part of the login's answer (manager.c appends it to the session): never filtered.
    wanted = ["FullyBooted", *(name for name in every[1:] if name in LISTENER_EVENTS)]
    await eventually(lambda: client.names() == wanted)
    assert sim.events_filtered == len(every) - len(wanted) > 0

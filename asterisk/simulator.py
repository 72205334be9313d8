"""A small AMI server that replays a recorded Asterisk session (tests, load tests and the demo).

A capture is a JSON Lines file: a header object, then ``{"t", "dir", "raw"}`` entries (``in`` = sent by
Asterisk, ``out`` = sent by the recording client). After a client logs in, the simulator sends the capture's
``in`` messages that followed the recorded login, byte for byte, with the recorded spacing divided by
``speed``. Replies to the recording client's own actions are not replayed; the connected client's actions
are answered instead (see ``_Session.answer``). ``OriginateResponse`` is replayed although it carries the
recorder's ActionID: Asterisk broadcasts it to every session, so a listener really sees it.

    python -m asterisk.simulator CAPTURE [CAPTURE ...] --port 5038 --username callercard --secret S --speed 1 --loop
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024
DEFAULT_BANNER = "Asterisk Call Manager/11.0.0\r\n"
LOGIN_OK = "Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n\r\n"
FULLY_BOOTED = ("Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1\r\nLastReload: 1\r\n"
                "Status: Fully Booted\r\n\r\n")
# login_failed.jsonl: Asterisk sleeps 1 s, sends this and closes the session (action_login returns -1).
LOGIN_FAILED = "Response: Error\r\nActionID: {action_id}\r\nMessage: Authentication failed\r\n\r\n"
BROADCAST_EVENTS = frozenset({"OriginateResponse"})
# Answers recorded from Asterisk 22 (QueuePause is answered separately: paused / unpaused).
_ACKS = {"setvar": "Variable Set", "hangup": "Channel Hungup", "queueadd": "Added interface to queue",
         "queueremove": "Removed interface from queue", "originate": "Originate successfully queued",
         "blindtransfer": "Transfer succeeded"}
_CHANNEL_FIELDS = ("Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
                   "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode", "Context", "Exten",
                   "Priority", "Uniqueid", "Linkedid")
_END_OF_MESSAGE = re.compile(rb"\r?\n\r?\n")
_UNIQUEID = re.compile(r"^\d+\.\d+$")
_CHANNEL_SUFFIX = re.compile(r"-([0-9a-f]{8})(?:;[12])?$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_message(raw: str) -> dict[str, str]:
    """AMI headers of one message; a repeated header's values are joined with ','."""
    headers: dict[str, str] = {}
    for line in re.split(r"\r?\n", raw):
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if sep and key:
            headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


@dataclass(frozen=True)
class Entry:
    t: float
    dir: str  # "in" | "out"
    raw: str

    @cached_property
    def headers(self) -> dict[str, str]:
        return parse_message(self.raw)


@dataclass(eq=False)
class Capture:
    header: dict[str, Any]
    entries: list[Entry]

    @property
    def name(self) -> str:
        return str(self.header.get("capture", ""))

    @cached_property
    def out_action_ids(self) -> frozenset[str]:
        return frozenset(e.headers["ActionID"] for e in self.entries
                         if e.dir == "out" and "ActionID" in e.headers)

    @cached_property
    def banner(self) -> str:
        first_in = next((e.raw for e in self.entries if e.dir == "in"), "")
        return first_in if first_in.startswith("Asterisk Call Manager/") else DEFAULT_BANNER

    @cached_property
    def _login(self) -> tuple[int, str, str, str, float]:
        """(index of the login response or -1, ok template, FullyBooted, failure template, failure delay)"""
        ok, booted, failed, delay, index = LOGIN_OK, FULLY_BOOTED, LOGIN_FAILED, 1.0, -1
        login = next((e for e in self.entries
                      if e.dir == "out" and e.headers.get("Action", "").lower() == "login"), None)
        aid = login.headers.get("ActionID", "") if login else ""
        for i, e in enumerate(self.entries):
            if (login and aid and e.dir == "in" and e.headers.get("ActionID") == aid
                    and "Response" in e.headers):
                if e.headers["Response"] == "Success":
                    ok, index = templatize(e.raw, aid), i
                    j = next((j for j in range(i + 1, len(self.entries)) if self.entries[j].dir == "in"), -1)
                    if j > 0 and self.entries[j].headers.get("Event") == "FullyBooted":
                        booted, index = self.entries[j].raw, j
                else:
                    failed, delay = templatize(e.raw, aid), e.t - login.t
                break
        return index, ok, booted, failed, delay

    @cached_property
    def replay_entries(self) -> list[Entry]:
        """The ``in`` messages sent after a successful login, in order."""
        start = self._login[0] + 1
        return [e for e in self.entries[start:]
                if e.dir == "in" and not e.raw.startswith("Asterisk Call Manager/")
                and not (e.headers.get("ActionID") in self.out_action_ids
                         and e.headers.get("Event") not in BROADCAST_EVENTS)]

    @property
    def replay_t0(self) -> float:
        index = self._login[0]
        return self.entries[index].t if index >= 0 else 0.0


def load_capture(path: str | Path) -> Capture:
    lines = [line for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]
    if not lines:
        raise ValueError(f"{path}: empty capture")
    entries = []
    for number, line in enumerate(lines[1:], start=2):
        item = json.loads(line)
        if item.get("dir") not in ("in", "out") or not isinstance(item.get("raw"), str):
            raise ValueError(f"{path}:{number}: not a capture entry")
        entries.append(Entry(float(item["t"]), item["dir"], item["raw"]))
    return Capture(json.loads(lines[0]), entries)


def templatize(raw: str, action_id: str) -> str:
    return raw.replace(f"ActionID: {action_id}\r\n", "ActionID: {action_id}\r\n")


def render(template: str, action_id: str | None) -> str:
    if not action_id:  # Asterisk leaves the header out when the action had none
        return template.replace("ActionID: {action_id}\r\n", "")
    return template.replace("{action_id}", action_id)


def recorded_responses(capture: Capture) -> dict[str, list[str]]:
    """Action name -> the recorded replies (templates with ``{action_id}``) to its ``out`` actions, in order.

    A reply is every ``in`` message with the action's ActionID (for list actions: response and events),
    except broadcast events such as OriginateResponse, which stay in the replay."""
    replies: dict[str, list[str]] = {}
    for e in capture.entries:
        aid = e.headers.get("ActionID")
        if e.dir == "in" and aid and e.headers.get("Event") not in BROADCAST_EVENTS:
            replies.setdefault(aid, []).append(e.raw)
    result: dict[str, list[str]] = {}
    for e in capture.entries:
        action, aid = e.headers.get("Action"), e.headers.get("ActionID")
        if e.dir == "out" and action and aid and aid in replies and action.lower() != "login":
            result.setdefault(action, []).append(templatize("".join(replies[aid]), aid))
    return result


def clone_with_fresh_ids(capture: Capture, suffix: int) -> Capture:
    """The capture with every Uniqueid/Linkedid, channel suffix (``-00000004;1``) and bridge id replaced by
    values unique to ``suffix`` (>= 1), consistently across all entries (in and out)."""
    if suffix < 1:
        raise ValueError("suffix must be >= 1")
    ids: dict[str, str] = {}
    channels: dict[str, str] = {}
    for e in capture.entries:
        for key, value in e.headers.items():
            if _UUID.match(value):
                ids[value] = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{value}/{suffix}"))
            elif key.endswith(("Uniqueid", "Linkedid")) and _UNIQUEID.match(value):
                epoch, seq = value.split(".")
                ids[value] = f"{epoch}.{int(seq) + suffix * 1_000_000}"
            elif key.endswith("Channel") and (m := _CHANNEL_SUFFIX.search(value)):
                channels[m.group(1)] = f"{(int(m.group(1), 16) + suffix * 0x100000) & 0xFFFFFFFF:08x}"

    def alternatives(tokens: Mapping[str, str]) -> str:
        return "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)) or r"(?!)"

    id_re = re.compile(rf"(?<![\w.-])(?:{alternatives(ids)})(?![\w.])")
    channel_re = re.compile(rf"-({alternatives(channels)})(?![0-9a-f])")

    def rewrite(raw: str) -> str:
        raw = id_re.sub(lambda m: ids[m.group(0)], raw)
        return channel_re.sub(lambda m: "-" + channels[m.group(1)], raw)

    entries = [Entry(e.t, e.dir, rewrite(e.raw)) for e in capture.entries]
    return Capture({**capture.header, "clone": suffix}, entries)


def observe_members(members: dict[str, dict[str, dict[str, str]]], headers: Mapping[str, str]) -> None:
    """Track queue members (queue -> interface -> the member event's fields) from replayed events."""
    event = headers.get("Event")
    if event in ("QueueMemberAdded", "QueueMemberPause", "QueueMemberStatus"):
        members.setdefault(headers.get("Queue", ""), {})[headers.get("Interface", "")] = dict(headers)
    elif event == "QueueMemberRemoved":
        members.get(headers.get("Queue", ""), {}).pop(headers.get("Interface", ""), None)


def observe_channels(channels: dict[str, dict[str, Any]], headers: Mapping[str, str]) -> None:
    """Track live channels (by Uniqueid, in creation order) from replayed Newchannel ... Hangup events."""
    event, uid = headers.get("Event"), headers.get("Uniqueid", "")
    if event == "Newchannel":
        channels[uid] = {"born": asyncio.get_running_loop().time()}
    chan = channels.get(uid)
    if chan is None:
        return
    if event == "Hangup":
        del channels[uid]
        return
    chan.update({k: headers[k] for k in _CHANNEL_FIELDS if k in headers})
    if event == "Newexten":
        chan["Application"] = headers.get("Application", "")
        chan["ApplicationData"] = headers.get("AppData", "")
    elif event in ("BridgeEnter", "BridgeLeave"):
        chan["BridgeId"] = headers.get("BridgeUniqueid", "") if event == "BridgeEnter" else ""


def _format(head: tuple[str, str], action_id: str | None, *fields: tuple[str, str]) -> str:
    lines = [f"{head[0]}: {head[1]}"] + ([f"ActionID: {action_id}"] if action_id else [])
    return "\r\n".join(lines + [f"{k}: {v}" for k, v in fields]) + "\r\n\r\n"


def _true(value: str | None) -> bool:  # Asterisk's ast_true()
    return (value or "").strip().lower() in ("yes", "true", "y", "t", "1", "on")


class _Session:
    """One client connection: login, its own replay, answers to its actions."""

    def __init__(self, sim: AmiSimulator, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.sim, self.reader, self.writer = sim, reader, writer
        self.silent = False
        self.authenticated = False
        self.wants_events = True
        self.channels: dict[str, dict[str, Any]] = {}  # live channels by Uniqueid, in creation order
        self.members: dict[str, dict[str, dict[str, str]]] = {}  # queue -> interface -> member event fields
        self.replay_task: asyncio.Task[None] | None = None
        self.used: dict[str, int] = {}  # how many templates of each action this session has consumed

    def send(self, text: str) -> None:
        if not self.silent and not self.writer.is_closing():
            self.writer.write(text.encode("utf-8"))

    async def run(self) -> None:
        buffer = b""
        try:
            self.send(self.sim.capture.banner)
            while chunk := await self.reader.read(65536):
                buffer += chunk
                while (m := _END_OF_MESSAGE.search(buffer)) is not None:
                    block, buffer = buffer[: m.start()], buffer[m.end():]
                    if len(block) > MAX_MESSAGE:
                        self.send(_format(("Response", "Error"), None, ("Message", "Message too long")))
                    elif not await self.handle(block.decode("utf-8", "replace")):
                        return
                if len(buffer) > MAX_MESSAGE:
                    buffer = b""
                    self.send(_format(("Response", "Error"), None, ("Message", "Message too long")))
        except ConnectionError:
            pass
        except Exception:
            log.exception("AMI simulator session failed")
        finally:
            if self.replay_task is not None:
                self.replay_task.cancel()
            self.writer.close()

    async def handle(self, text: str) -> bool:
        """Answer one client message; False ends the session."""
        headers = parse_message(text)
        if not headers:
            return True
        self.sim.received_actions.append(headers)
        low = {k.lower(): v for k, v in headers.items()}
        action, aid = low.get("action", "").lower(), low.get("actionid")
        if self.silent:
            return True
        if not action:
            self.send(_format(("Response", "Error"), aid, ("Message", "Missing action in request")))
        elif action == "login":
            return await self.login(low, aid)
        elif action == "logoff":
            self.send(_format(("Response", "Goodbye"), aid, ("Message", "Thanks for all the fish.")))
            return False
        elif not self.authenticated:
            self.send(_format(("Response", "Error"), aid, ("Message", "Permission denied")))
        else:
            self.send(self.answer(action, low, aid))
        return True

    async def login(self, low: dict[str, str], aid: str | None) -> bool:
        _, ok, booted, failed, delay = self.sim.capture._login
        if self.authenticated:
            self.send(_format(("Response", "Success"), aid, ("Message", "Already authenticated")))
        elif low.get("username") == self.sim.username and low.get("secret") == self.sim.secret:
            self.authenticated = True
            self.send(render(ok, aid) + booted)
            self.sim.login_times.append(time.monotonic())
            # A session that logs in with "Events: off" (an action-only client) gets no events, as on Asterisk.
            self.wants_events = low.get("events", "on").strip().lower() != "off"
            if self.wants_events and not self.sim.shared_timeline:
                self.replay_task = asyncio.create_task(self.replay())
        else:
            await asyncio.sleep(delay / self.sim.speed)
            self.send(render(failed, aid))
            return False
        return True

    def answer(self, action: str, low: dict[str, str], aid: str | None) -> str:
        templates = self.sim.responses.get(action)
        if templates:
            index = self.used[action] = self.used.get(action, -1) + 1
            if index < len(templates):
                return render(templates[index], aid)
        if action == "ping":
            now = f"{time.time():.6f}"
            return _format(("Response", "Success"), aid, ("Ping", "Pong"), ("Timestamp", now))
        if action == "events":
            on = low.get("eventmask", "on").lower() != "off"
            return _format(("Response", "Success"), aid, ("Events", "On" if on else "Off"))
        if action == "queuepause":
            state = "paused" if _true(low.get("paused")) else "unpaused"
            return _format(("Response", "Success"), aid, ("Message", f"Interface {state} successfully"))
        if action == "coreshowchannels":
            return self.core_show_channels(aid)
        if action == "queuestatus":
            return self.queue_status(aid, low.get("queue"))
        if action in _ACKS:
            text = _format(("Response", "Success"), aid, ("Message", _ACKS[action]))
            if action == "originate" and _true(low.get("async")):
                text += self.originate_response(low, aid)
            return text
        return _format(("Response", "Error"), aid, ("Message", "Invalid/unknown command"))

    def originate_response(self, low: dict[str, str], aid: str | None) -> str:
        """What Asterisk sends when an Async Originate's first leg answers."""
        n = len(self.sim.received_actions)
        channel = low.get("channel", "")
        channel += f"-{0xF0000000 + n:08x}" + (";1" if channel.startswith("Local/") else "")
        callerid = low.get("callerid", "")
        m = re.match(r'\s*"?([^"<]*?)"?\s*<([^>]*)>', callerid)
        number, name = (m.group(2), m.group(1)) if m else (callerid, "")
        if "exten" in low:
            target = [("Context", low.get("context", "")), ("Exten", low["exten"])]
        else:
            target = [("Application", low.get("application", "")), ("Data", low.get("data", ""))]
        return _format(("Event", "OriginateResponse"), None, ("Privilege", "call,all"),
                       *([("ActionID", aid)] if aid else []), ("Response", "Success"), ("Channel", channel),
                       *target, ("Reason", "4"), ("Uniqueid", f"{int(time.time())}.{900000 + n}"),
                       ("CallerIDNum", number or "<unknown>"), ("CallerIDName", name or "<unknown>"))

    def core_show_channels(self, aid: str | None) -> str:
        now = asyncio.get_running_loop().time()
        parts = [_format(("Response", "Success"), aid, ("EventList", "start"),
                         ("Message", "Channels will follow"))]
        channels = self.sim.pbx_channels if self.sim.shared_timeline else self.channels
        live = list(reversed(channels.values()))  # Asterisk lists the newest channel first
        for chan in live:
            secs = int((now - chan["born"]) * self.sim.speed)
            fields = [(k, chan.get(k, "")) for k in (*_CHANNEL_FIELDS, "Application", "ApplicationData")]
            duration = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
            parts.append(_format(("Event", "CoreShowChannel"), aid, *fields, ("Duration", duration),
                                 ("BridgeId", chan.get("BridgeId", ""))))
        parts.append(_format(("Event", "CoreShowChannelsComplete"), aid, ("EventList", "Complete"),
                             ("ListItems", str(len(live)))))
        return "".join(parts)

    def queue_status(self, aid: str | None, only: str | None) -> str:
        """QueueStatus from the queue member events replayed so far (a queue is known once it has had one)."""
        parts = [_format(("Response", "Success"), aid, ("EventList", "start"),
                         ("Message", "Queue status will follow"))]
        members = self.sim.pbx_members if self.sim.shared_timeline else self.members
        queues = [q for q in sorted(members) if not only or q == only]
        for queue in queues:
            parts.append(_format(("Event", "QueueParams"), aid, ("Queue", queue)))
            for member in members[queue].values():
                fields = [("Queue", queue), ("Name", member.get("MemberName", "")),
                          ("Location", member.get("Interface", ""))]
                fields += [(k, member.get(k, "")) for k in ("StateInterface", "Membership", "Penalty",
                                                              "CallsTaken", "InCall", "Status", "Paused",
                                                              "PausedReason")]
                parts.append(_format(("Event", "QueueMember"), aid, *fields))
        count = len(queues) + sum(len(members[q]) for q in queues)
        parts.append(_format(("Event", "QueueStatusComplete"), aid, ("EventList", "Complete"),
                             ("ListItems", str(count))))
        return "".join(parts)

    def observe(self, headers: dict[str, str]) -> None:
        """Track live channels (Newchannel ... Hangup) and queue members from the replayed events."""
        observe_members(self.members, headers)
        observe_channels(self.channels, headers)

    async def replay(self) -> None:
        loop, sim, rounds = asyncio.get_running_loop(), self.sim, 0
        while True:
            played = sim.playlist[rounds % len(sim.playlist)]
            capture = played if rounds < len(sim.playlist) else clone_with_fresh_ids(played, rounds)
            start = loop.time()
            for entry in capture.replay_entries:
                delay = start + (entry.t - capture.replay_t0) / sim.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.observe(entry.headers)
                self.send(entry.raw)
                with contextlib.suppress(ConnectionError):
                    await self.writer.drain()
            rounds += 1
            if rounds % len(sim.playlist) == 0:
                sim.replays_finished += 1
                sim._finished.set()
                if not sim.loop_forever:
                    return


class AmiSimulator:
    """Serve ``capture`` to every client that logs in with ``username``/``secret``.

    ``responses`` maps an action name to a reply template (``{action_id}`` placeholder) or a list of
    templates used in turn per connection (then the built-in answer); see ``recorded_responses``.
    """

    def __init__(self, capture: Capture, *, username: str, secret: str, speed: float = 1.0,
                 host: str = "127.0.0.1", port: int = 0, loop_forever: bool = False,
                 responses: Mapping[str, str | Sequence[str]] | None = None,
                 then: Sequence[Capture] = (), shared_timeline: bool = False) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.capture, self.username, self.secret, self.speed = capture, username, secret, speed
        # Replayed in turn after ``capture`` (which also gives the login exchange), each with fresh ids from
        # the second round on.
        self.then = list(then)
        self.host, self.port, self.loop_forever = host, port, loop_forever
        self.responses = {k.lower(): [v] if isinstance(v, str) else list(v)
                          for k, v in (responses or {}).items()}
        self.received_actions: list[dict[str, str]] = []
        # shared_timeline: one PBX whose calls go on whether or not a client is connected. ``start_timeline``
        # plays the capture once for everyone logged in at that moment; a client that reconnects misses what
        # happened meanwhile and sees only the live channels in CoreShowChannels, as with a real Asterisk.
        self.shared_timeline = shared_timeline
        self.pbx_channels: dict[str, dict[str, Any]] = {}
        self.pbx_members: dict[str, dict[str, dict[str, str]]] = {}
        self.login_times: list[float] = []  # time.monotonic() of each accepted Login
        self.disconnect_times: list[float] = []  # time.monotonic() of each client connection's end
        self._timeline: asyncio.Task[None] | None = None
        self.timeline_started = 0.0  # time.monotonic() when start_timeline was called
        self.replays_finished = 0
        self._finished = asyncio.Event()
        self._sessions: dict[_Session, asyncio.Task[Any] | None] = {}
        self._server: asyncio.Server | None = None

    @property
    def playlist(self) -> list[Capture]:
        return [self.capture, *self.then]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._timeline is not None:
            self._timeline.cancel()
            await asyncio.gather(self._timeline, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        tasks = [task for task in self._sessions.values() if task is not None]
        for session in list(self._sessions):
            session.writer.transport.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def wait_finished(self, timeout: float) -> None:
        """Wait until a client's replay has sent every ``in`` message (raises TimeoutError)."""
        await asyncio.wait_for(self._finished.wait(), timeout)

    def start_timeline(self) -> None:
        """Shared-timeline mode: start the PBX's calls (the capture, then fresh-id clones if looping)."""
        if not self.shared_timeline or self._timeline is not None:
            raise RuntimeError("start_timeline needs shared_timeline=True and runs once")
        self.timeline_started = time.monotonic()
        self._timeline = asyncio.create_task(self._play_timeline())

    async def _play_timeline(self) -> None:
        loop, rounds = asyncio.get_running_loop(), 0
        while True:
            capture = self.capture if rounds == 0 else clone_with_fresh_ids(self.capture, rounds)
            start = loop.time()
            for entry in capture.replay_entries:
                delay = start + (entry.t - capture.replay_t0) / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                observe_members(self.pbx_members, entry.headers)
                observe_channels(self.pbx_channels, entry.headers)
                await self.broadcast(entry.raw.encode("utf-8"))
            rounds += 1
            self.replays_finished += 1
            self._finished.set()
            if not self.loop_forever:
                return

    async def broadcast(self, data: bytes) -> None:
        """Write raw bytes (well-formed or not) to every logged-in, non-silent client."""
        for session in list(self._sessions):
            if session.authenticated and session.wants_events and not session.silent \
                    and not session.writer.is_closing():
                session.writer.write(data)
                with contextlib.suppress(ConnectionError):
                    await session.writer.drain()

    async def wait_logins(self, count: int, timeout: float) -> float:
        """Wait until ``count`` Logins were accepted in all; returns the monotonic time of the last one."""
        async with asyncio.timeout(timeout):
            while len(self.login_times) < count:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        return self.login_times[count - 1]

    async def drop_connections(self) -> None:
        """Abort every client connection (no FIN handshake niceties, pending data is lost)."""
        for session in list(self._sessions):
            session.writer.transport.abort()
        await asyncio.sleep(0)

    def go_silent(self) -> None:
        """Current connections stay open but send and answer nothing (a half-open link); new ones work."""
        for session in self._sessions:
            session.silent = True

    def resume(self) -> None:
        for session in self._sessions:
            session.silent = False

    @property
    def silent(self) -> bool:
        return any(session.silent for session in self._sessions)

    @property
    def connections(self) -> int:
        return len(self._sessions)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer)
        self._sessions[session] = asyncio.current_task()
        try:
            await session.run()
        except asyncio.CancelledError:
            # stop() cancels sessions; finishing normally keeps asyncio's stream callback from logging it as
            # an error (its connection_made callback reads the task's exception).
            pass
        finally:
            self._sessions.pop(session, None)
            self.disconnect_times.append(time.monotonic())


async def _main(args: argparse.Namespace) -> None:
    first, *rest = [load_capture(path) for path in args.captures]
    sim = AmiSimulator(first, username=args.username, secret=args.secret, speed=args.speed, host=args.host,
                       port=args.port, loop_forever=args.loop, then=rest)
    await sim.start()
    log.info("replaying %s on %s:%d (speed %s%s)", ", ".join(c.name for c in sim.playlist), sim.host, sim.port,
             args.speed, ", looping" if args.loop else "")
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m asterisk.simulator",
                                     description="Replay a recorded Asterisk AMI session to AMI clients.")
    parser.add_argument("captures", type=Path, nargs="+", metavar="CAPTURE",
                        help=".jsonl AMI captures, replayed in turn")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038)
    parser.add_argument("--username", default="callercard")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed factor (2 = twice as fast)")
    parser.add_argument("--loop", action="store_true", help="replay forever, each round with fresh call ids")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()

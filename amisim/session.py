"""One client connection to the simulator: its login, its own replay, and the answers to its actions.

Replies to the recording client's own actions are not replayed; this client's actions are answered instead
(``Session.answer``): from recorded templates when the simulator was given them, else as Asterisk 22 answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from amisim.capture import render
from amisim.cloning import clone_with_fresh_ids
from amisim.event_filters import EventFilters, FilterError
from amisim.pbx_state import CHANNEL_FIELDS, observe_channels, observe_members
from asterisk.ami_message import MessageStream, decode, parse_headers

if TYPE_CHECKING:
    from amisim.server import AmiSimulator

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024
# Answers recorded from Asterisk 22 (QueuePause is answered separately: paused / unpaused).
_ACKS = {"setvar": "Variable Set", "hangup": "Channel Hungup", "queueadd": "Added interface to queue",
         "queueremove": "Removed interface from queue", "originate": "Originate successfully queued",
         "blindtransfer": "Transfer succeeded"}


def _format(head: tuple[str, str], action_id: str | None, *fields: tuple[str, str]) -> str:
    lines = [f"{head[0]}: {head[1]}"] + ([f"ActionID: {action_id}"] if action_id else [])
    return "\r\n".join(lines + [f"{k}: {v}" for k, v in fields]) + "\r\n\r\n"


def _true(value: str | None) -> bool:  # Asterisk's ast_true()
    return (value or "").strip().lower() in ("yes", "true", "y", "t", "1", "on")


class Session:
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
        # The user's manager.conf eventfilter lines, then what its Filter actions add.
        self.filters = EventFilters(sim.eventfilters)

    def send(self, text: str) -> None:
        if not self.silent and not self.writer.is_closing():
            self.writer.write(text.encode("utf-8"))

    def send_event(self, text: str) -> bool:
        """Send one event if the session's filters admit it (answers to actions are never filtered)."""
        if self.filters.active and not self.filters.admits(text):
            self.sim.events_filtered += 1
            return False
        self.send(text)
        return True

    def add_filter(self, low: dict[str, str], aid: str | None) -> str:
        """The Filter action, as Asterisk 22 answers it (it needs the ``system`` write class)."""
        if not self.sim.filter_permitted:
            return _format(("Response", "Error"), aid, ("Message", "Permission denied"))
        if low.get("operation", "").lower() != "add":
            return _format(("Response", "Error"), aid, ("Message", "Unknown operation"))
        if low.get("matchcriteria"):
            return _format(("Response", "Error"), aid, ("Message", "MatchCriteria is not simulated"))
        try:
            self.filters.add(low.get("filter", ""))
        except FilterError as error:
            return _format(("Response", "Error"), aid, ("Message", str(error)))
        return _format(("Response", "Success"), aid, ("Message", "Success"))

    async def run(self) -> None:
        stream = MessageStream()
        try:
            self.send(self.sim.capture.banner)
            while chunk := await self.reader.read(65536):
                for block in stream.feed(chunk):
                    if len(block) > MAX_MESSAGE:
                        self.send(_format(("Response", "Error"), None, ("Message", "Message too long")))
                    elif not await self.handle(decode(block)):
                        return
                if stream.pending > MAX_MESSAGE:
                    stream.clear()
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
        headers = parse_headers(text)
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
            delay = self.sim.answer_delays.get(action, 0.0)
            if delay:  # a PBX slow to answer this action (the tests hold a callback's Originate this way)
                await asyncio.sleep(delay)
            self.send(self.answer(action, low, aid))
        return True

    async def login(self, low: dict[str, str], aid: str | None) -> bool:
        _, ok, booted, failed, delay = self.sim.capture.login_exchange
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
        if action == "filter":
            return self.add_filter(low, aid)
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
            fields = [(k, chan.get(k, "")) for k in (*CHANNEL_FIELDS, "Application", "ApplicationData")]
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
                self.send_event(entry.raw)
                with contextlib.suppress(ConnectionError):
                    await self.writer.drain()
            rounds += 1
            if rounds % len(sim.playlist) == 0:
                sim.replay_finished()
                if not sim.loop_forever:
                    return


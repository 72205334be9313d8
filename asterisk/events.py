"""Translate AMI events into the call state machine's signals.

Pure: no I/O. ``AmiCallFlow.handle`` takes one event's headers, as ``asterisk.ami_message``
reads them (one value per header), and returns what to do (card events to publish,
lookups to start, finished calls to log).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from callercard.calls.state import CallTracker, Effects, call_from_json, call_to_json

# DialEnd statuses that end a ring without an answer, and why.
_DIAL_END_REASONS = {"NOANSWER": "no_answer", "BUSY": "busy", "CHANUNAVAIL": "unavailable",
                     "CONGESTION": "unavailable", "CANCEL": "caller_hung_up"}
_DECLINED_CAUSE = "21"  # Call rejected: what the red button's Hangup sends
_NO_NUMBER = {"", "<unknown>"}
_REMEMBERED_ENDED_CALLS = 10_000
_UP = "6"  # ChannelState of an answered channel (5 is Ringing)


def _duration(text: str) -> timedelta:
    """CoreShowChannel's ``Duration`` (``HH:MM:SS``) as a timedelta; zero when absent or malformed."""
    try:
        hours, minutes, seconds = (int(part) for part in text.split(":"))
    except ValueError:
        return timedelta(0)
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def leg_id(channel: str) -> str:
    """``Local/201@agents-00000004;1`` and ``;2`` are one leg: ``Local/201@agents-00000004``."""
    head, sep, half = channel.rpartition(";")
    return head if sep and half.isdigit() else channel


def device_of(channel: str) -> str:
    """A channel's device: the name cut at its last ``-`` (``PJSIP/201-0000002a`` → ``PJSIP/201``)."""
    head, sep, _ = leg_id(channel).rpartition("-")
    return head if sep else channel


AgentForDevice = Callable[[str], str | None]


class AmiCallFlow:
    def __init__(self, *, tracker: CallTracker, agent_for_device: AgentForDevice, inbound_contexts: list[str],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.tracker = tracker
        self._agent_for_device = agent_for_device
        self._inbound_contexts = set(inbound_contexts)
        self._clock = clock
        self.channels: dict[str, set[str]] = {}  # call id -> live channel unique ids
        self._caller_channels: set[str] = set()  # unique ids of channels in an inbound context
        self._looked_up: set[str] = set()
        self._ended: OrderedDict[str, None] = OrderedDict()

    def handle(self, event: Mapping[str, str]) -> Effects:
        effects = Effects()
        name = event.get("Event", "")
        call_id = event.get("Linkedid") or event.get("DestLinkedid") or ""
        if not call_id or call_id in self._ended:
            return effects
        handler = getattr(self, f"_on_{name.lower()}", None)
        if handler is not None:
            handler(event, call_id, self._clock(), effects)
        if event.get("Uniqueid") in self._caller_channels:
            self._maybe_lookup(call_id, event.get("CallerIDNum", ""), effects)
        return effects

    def live_calls(self) -> list[str]:
        return list(self.channels)

    def now(self) -> datetime:
        return self._clock()

    def resynchronize(self, live: list[Mapping[str, str]], *, asked_at: datetime | None = None) -> Effects:
        """After a (re)login, from CoreShowChannels: what happened while the link was down.

        Calls none of whose channels are left are ended; of the calls that go on, agent legs whose channel is
        gone are ended, ringing legs whose phone is now up are answered, and agent legs that began meanwhile are
        added; inbound calls that began meanwhile (in a queue or an inbound context) are adopted with their
        ringing or answered agent legs, so they are logged and their popups shown and closed like any other.
        Calls and legs that began after ``asked_at`` (when CoreShowChannels was sent) are left alone: the list
        cannot show them yet. What changed unseen is dated now: a leg answered meanwhile counts from the resync.
        """
        at = self._clock()
        asked_at = asked_at or at
        live_ids = {channel.get("Uniqueid", "") for channel in live}
        effects = self.end_missing(live_ids, before=asked_at)
        for call_id, ids in self.channels.items():  # channels that hung up meanwhile will send no Hangup now
            call = self.tracker.calls.get(call_id)
            if call is None or call.entered_at < asked_at:
                ids &= live_ids
        legs: dict[str, Mapping[str, str]] = {}
        for channel in live:
            name = channel.get("Channel", "")
            if not name.endswith(";2") or leg_id(name) not in legs:  # an agent leg's state: its ;1 half
                legs[leg_id(name)] = channel
        for call_id, call in list(self.tracker.calls.items()):
            for key in list(call.leg_order):
                if call.legs[key].rung_at >= asked_at:
                    continue
                live_leg = legs.get(key)
                if live_leg is None:
                    effects.notices += self.tracker.end_leg(call_id=call_id, leg_id=key, at=at, reason="hangup")
                elif live_leg.get("ChannelState") == _UP:
                    effects.notices += self.tracker.answer(call_id=call_id, leg_id=key, at=at)
        calls: dict[str, list[Mapping[str, str]]] = {}
        for channel in live:
            calls.setdefault(channel.get("Linkedid", ""), []).append(channel)
        for call_id, channels in calls.items():
            if call_id and call_id not in self._ended:
                self._merge_live(call_id, channels, at, effects)
        return effects

    def _merge_live(self, call_id: str, channels: list[Mapping[str, str]], at: datetime, effects: Effects) -> None:
        """Take in what a live call's channels show: the call itself if it began unseen (inbound only), its
        queue, and agent legs that began ringing (or were answered) while we were not looking."""
        if call_id not in self.tracker.calls:
            if call_id in self.channels:
                return  # a call we track that has not entered (an outbound leg, an internal call)
            inbound = [c for c in channels
                       if c.get("Context") in self._inbound_contexts or c.get("Application") == "Queue"]
            if not inbound:
                return
            caller = next((c for c in channels if c.get("Uniqueid") == call_id), inbound[0])
            self.tracker.enter(call_id=call_id, number=self._number(caller),
                               at=at - _duration(caller.get("Duration", "")))
            self._caller_channels.update(c.get("Uniqueid", "") for c in inbound)
            self._maybe_lookup(call_id, caller.get("CallerIDNum", ""), effects)
        call = self.tracker.calls[call_id]
        self.channels.setdefault(call_id, set()).update(c.get("Uniqueid", "") for c in channels)
        queue = next((c.get("ApplicationData", "").split(",")[0] for c in channels if c.get("Application") == "Queue"),
                     None)
        if queue:
            self.tracker.join_queue(call_id=call_id, queue=queue, number=call.number, at=at)
        for channel in channels:
            name = channel.get("Channel", "")
            agent_id = self._agent_for_device(device_of(name))
            if agent_id is None or name.endswith(";2") or leg_id(name) in call.legs:
                continue
            effects.notices += self.tracker.ring(call_id=call_id, leg_id=leg_id(name), agent_id=agent_id,
                                                 queue=queue or (call.queues[-1] if call.queues else None), at=at,
                                                 channel=name)
            if channel.get("ChannelState") == _UP:
                effects.notices += self.tracker.answer(call_id=call_id, leg_id=leg_id(name), at=at)

    def snapshot(self) -> dict[str, Any]:
        """The live calls, JSON-ready: what a restarted listener needs to log them and close their popups."""
        return {"v": 1, "calls": [call_to_json(call) for call in self.tracker.calls.values()],
                "channels": {call_id: sorted(ids) for call_id, ids in self.channels.items()},
                "caller_channels": sorted(self._caller_channels), "looked_up": sorted(self._looked_up)}

    def restore(self, snapshot: Mapping[str, Any]) -> int:
        """Take over a predecessor's live calls (before the first login's resynchronization); returns how many."""
        if snapshot.get("v") != 1:
            return 0
        for data in snapshot.get("calls", []):
            call = call_from_json(data)
            self.tracker.calls.setdefault(call.call_id, call)
        for call_id, ids in snapshot.get("channels", {}).items():
            self.channels.setdefault(call_id, set()).update(ids)
        self._caller_channels.update(snapshot.get("caller_channels", []))
        self._looked_up.update(snapshot.get("looked_up", []))
        return len(snapshot.get("calls", []))

    def end_missing(self, live_unique_ids: set[str], *, before: datetime | None = None) -> Effects:
        """After a reconnect: end every call (entered before ``before``) none of whose channels Asterisk still has."""
        effects = Effects()

        def older(call_id: str) -> bool:
            call = self.tracker.calls.get(call_id)
            return before is None or call is None or call.entered_at < before

        for call_id, channels in list(self.channels.items()):
            if not channels & live_unique_ids and older(call_id):
                self._finish(call_id, self._clock(), effects)
        for call_id in [c for c in self.tracker.calls if c not in self.channels and older(c)]:
            self._finish(call_id, self._clock(), effects)
        return effects

    # -- events -------------------------------------------------------------

    def _on_newchannel(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        self.channels.setdefault(call_id, set()).add(event.get("Uniqueid", ""))
        if event.get("Context") in self._inbound_contexts:
            self._caller_channels.add(event.get("Uniqueid", ""))
            self.tracker.enter(call_id=call_id, number=None, at=at)

    def _on_queuecallerjoin(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        self._caller_channels.add(event.get("Uniqueid", ""))
        number = self._number(event)
        self.tracker.enter(call_id=call_id, number=number, at=at)
        self.tracker.join_queue(call_id=call_id, queue=event.get("Queue", ""), number=number, at=at)

    def _on_agentcalled(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        self._ring(event, call_id, at, effects, queue=event.get("Queue"))

    def _on_dialbegin(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        # A Dial to an agent's device outside a queue, as after a transfer; queue legs are already known.
        if event.get("Channel"):
            self._ring(event, call_id, at, effects, queue=None)

    def _on_agentringnoanswer(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        effects.notices += self.tracker.stop_ringing(call_id=call_id, leg_id=leg_id(event.get("DestChannel", "")),
                                                     at=at, reason="no_answer")

    def _on_dialend(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        leg = leg_id(event.get("DestChannel", ""))
        status = event.get("DialStatus", "")
        if status == "ANSWER":
            effects.notices += self.tracker.answer(call_id=call_id, leg_id=leg, at=at)
        elif status in _DIAL_END_REASONS:
            effects.notices += self.tracker.stop_ringing(call_id=call_id, leg_id=leg, at=at,
                                                         reason=_DIAL_END_REASONS[status])

    def _on_agentconnect(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        effects.notices += self.tracker.answer(call_id=call_id, leg_id=leg_id(event.get("DestChannel", "")), at=at)

    def _on_blindtransfer(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        effects.notices += self.tracker.end_leg(call_id=call_id, leg_id=leg_id(event.get("TransfererChannel", "")),
                                                at=at, reason="transferred")

    def _on_attendedtransfer(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        effects.notices += self.tracker.end_leg(
            call_id=call_id, leg_id=leg_id(event.get("OrigTransfererChannel", "")), at=at, reason="transferred")

    def _on_hangup(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        reason = "declined" if event.get("Cause") == _DECLINED_CAUSE else "hangup"
        effects.notices += self.tracker.end_leg(call_id=call_id, leg_id=leg_id(event.get("Channel", "")), at=at,
                                                reason=reason)
        unique_id = event.get("Uniqueid", "")
        self._caller_channels.discard(unique_id)
        channels = self.channels.get(call_id)
        if channels is not None:
            channels.discard(unique_id)
        # Every channel gone, or we never saw them (started mid-call) and the call's own hung up.
        if not channels and (channels is not None or unique_id == call_id):
            self._finish(call_id, at, effects)

    # -- helpers ------------------------------------------------------------

    def _ring(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects, *,
              queue: str | None) -> None:
        channel = event.get("DestChannel", "")
        agent_id = self._agent_for_device(device_of(channel))
        if agent_id is None:
            return
        effects.notices += self.tracker.ring(call_id=call_id, leg_id=leg_id(channel), agent_id=agent_id,
                                             queue=queue, at=at, number=self._number(event), channel=channel)

    def _number(self, event: Mapping[str, str]) -> str | None:
        number = event.get("CallerIDNum", "")
        return None if number in _NO_NUMBER else number

    def _maybe_lookup(self, call_id: str, raw: str, effects: Effects) -> None:
        if raw in _NO_NUMBER or call_id in self._looked_up or call_id not in self.tracker.calls:
            return
        self._looked_up.add(call_id)
        call = self.tracker.calls[call_id]
        call.number = call.number or raw
        effects.lookups.append((raw, call_id))

    def _finish(self, call_id: str, at: datetime, effects: Effects) -> None:
        self.channels.pop(call_id, None)
        self._looked_up.discard(call_id)
        notices, call = self.tracker.end_call(call_id=call_id, at=at)
        effects.notices += notices
        if call is not None:
            effects.finished.append(call)
        self._ended[call_id] = None
        while len(self._ended) > _REMEMBERED_ENDED_CALLS:
            self._ended.popitem(last=False)

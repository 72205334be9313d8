"""Translate AMI events into the call state machine's signals.

Pure: no I/O. ``AmiCallFlow.handle`` takes one event's headers and returns what
to do (card events to publish, lookups to start, finished calls to log).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from callercard.calls.state import CallTracker, Effects

# DialEnd statuses that end a ring without an answer, and why.
_DIAL_END_REASONS = {"NOANSWER": "no_answer", "BUSY": "busy", "CHANUNAVAIL": "unavailable",
                     "CONGESTION": "unavailable", "CANCEL": "caller_hung_up"}
_DECLINED_CAUSE = "21"  # Call rejected: what the red button's Hangup sends
_NO_NUMBER = {"", "<unknown>"}
_REMEMBERED_ENDED_CALLS = 10_000


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

    def end_missing(self, live_unique_ids: set[str]) -> Effects:
        """After a reconnect: end every call none of whose channels Asterisk still has."""
        effects = Effects()
        for call_id, channels in list(self.channels.items()):
            if not channels & live_unique_ids:
                self._finish(call_id, self._clock(), effects)
        for call_id in [c for c in self.tracker.calls if c not in self.channels]:
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
        if not channels:  # every channel gone, or we never saw them (started mid-call) and the call's own hung up
            if channels is not None or unique_id == call_id:
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

"""Translate AMI events into the call state machine's signals.

Pure: no I/O. ``AmiCallFlow.handle`` takes one event's headers, as ``asterisk.ami_message``
reads them (one value per header), and returns what to do (card events to publish,
lookups to start, finished calls to log).

Asterisk's ways, as recorded (tests/captures/README.md): a call is its ``Linkedid``, which transfer events carry
as ``TransfererLinkedid``, …, and which bridging two calls rewrites to the oldest (channels are followed by
Uniqueid); a ring's stop comes before the hang-up whose cause says it was refused (``asterisk.held_stops``);
``QueueCallerAbandon`` means the caller hung up only when a hang-up request for their channel came first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from asterisk.channels import call_id_of, device_of, event_time, leg_id, older
from asterisk.flow_resync import Resynchronizing
from asterisk.held_stops import CAUSE_REASONS as _CAUSE_REASONS
from asterisk.held_stops import DIAL_END_REASONS as _DIAL_END_REASONS
from asterisk.held_stops import HeldStops, Stop
from callercard.calls.state import CallTracker, Effects, LegState
from callercard.lookup.cards import internal_card

_NO_NUMBER = {"", "<unknown>"}
_REMEMBERED_ENDED_CALLS = 10_000
_RINGS = frozenset({"AgentCalled", "DialBegin"})

AgentForDevice = Callable[[str], str | None]
AgentName = Callable[[str], str | None]


class AmiCallFlow(Resynchronizing):
    def __init__(self, *, tracker: CallTracker, agent_for_device: AgentForDevice, inbound_contexts: list[str],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 agent_name: AgentName = lambda _agent_id: None) -> None:
        self.tracker = tracker
        self._agent_for_device = agent_for_device
        self._agent_name = agent_name
        self._inbound_contexts = set(inbound_contexts)
        self._clock = clock
        self.channels: dict[str, set[str]] = {}  # call id -> live channel unique ids
        self._call_of: dict[str, str] = {}  # channel unique id -> the call we file it under
        self._names: dict[str, str] = {}  # channel unique id -> channel name
        self._caller_channels: set[str] = set()  # unique ids of channels in an inbound context
        self._hanging_up: set[str] = set()  # unique ids asked to hang up (HangupRequest, SoftHangupRequest)
        self._originators: dict[str, str] = {}  # call id -> agent whose own phone placed it
        self._looked_up: set[str] = set()
        self._held = HeldStops()
        self._ended: OrderedDict[str, None] = OrderedDict()
        # When we first heard of a call, a channel (unique id) or a leg ((call, leg)), by our clock.
        self.seen_at: dict[Any, datetime] = {}
        self._seen_legs: dict[str, list[tuple[str, str]]] = {}  # call id -> its legs' keys in seen_at
        self._received = clock()

    def handle(self, event: Mapping[str, str]) -> Effects:
        effects = Effects()
        name = event.get("Event", "")
        received = self._received = self._clock()
        at = event_time(event, received)
        call_id = call_id_of(event)
        unique_id = event.get("Uniqueid", "")
        known = self._call_of.get(unique_id)
        if known and call_id and known != call_id:
            if call_id in self._ended:
                call_id = known  # a channel we followed out of a merged call still names that call
            else:
                self._follow(unique_id, known, call_id, at, effects)  # Asterisk rewrote its Linkedid
        if not call_id or call_id in self._ended:
            return effects
        self._touch(call_id)
        self.seen_at.setdefault(call_id, received)
        handler = getattr(self, f"_on_{name.lower()}", None)
        if handler is not None:
            handler(event, call_id, at, effects)
        if unique_id in self._caller_channels:
            self._maybe_lookup(call_id, event.get("CallerIDNum", ""), effects)
        # When the next phone rings, the previous one's popup must be gone first.
        ringing = leg_id(event.get("DestChannel", "")) if name in _RINGS else None
        self._dismiss(self._held.due(call_id, at, ringing=ringing), effects)
        return effects

    def now(self) -> datetime:
        return self._clock()

    # -- events -------------------------------------------------------------

    def _on_newchannel(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        unique_id = event.get("Uniqueid", "")
        self._track(unique_id, call_id, event.get("Channel", ""))
        if event.get("Context") in self._inbound_contexts:
            self._caller_channels.add(unique_id)
            self.tracker.enter(call_id=call_id, number=None, at=at)
        elif unique_id == call_id and call_id not in self.tracker.calls:
            agent_id = self._agent_for_device(device_of(event.get("Channel", "")))
            if agent_id is not None:  # an agent's own phone starts this call: internal or outbound
                self._originators[call_id] = agent_id

    def _on_queuecallerjoin(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        self._caller_channels.add(event.get("Uniqueid", ""))
        number = self._number(event)
        self.tracker.enter(call_id=call_id, number=number, at=at)
        self.tracker.join_queue(call_id=call_id, queue=event.get("Queue", ""), number=number, at=at)

    def _on_queuecallerabandon(self, event: Mapping[str, str], call_id: str, at: datetime,
                               effects: Effects) -> None:
        # Asterisk says "abandon" for both; only a caller who hung up was asked to hang up first.
        if event.get("Uniqueid", "") not in self._hanging_up:
            self.tracker.give_up(call_id=call_id)

    def _on_agentcalled(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        self._ring(event, call_id, at, effects, queue=event.get("Queue"))

    def _on_dialbegin(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        # A Dial to an agent's device outside a queue (a DID, a ring group, a transfer, a colleague's call);
        # queue legs are already known from AgentCalled. Without Channel it is an Originate's own dial.
        if event.get("Channel"):
            self._ring(event, call_id, at, effects, queue=None)

    def _on_agentringnoanswer(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        self._hold_stop(call_id, leg_id(event.get("DestChannel", "")), "no_answer", at)

    def _on_dialend(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        leg = leg_id(event.get("DestChannel", ""))
        status = event.get("DialStatus", "")
        if status == "ANSWER":
            self._held.answered((call_id, leg))
            effects.notices += self.tracker.answer(call_id=call_id, leg_id=leg, at=at)
        elif status in _DIAL_END_REASONS:
            self._hold_stop(call_id, leg, _DIAL_END_REASONS[status], at)

    def _on_agentconnect(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        leg = leg_id(event.get("DestChannel", ""))
        self._held.answered((call_id, leg))
        effects.notices += self.tracker.answer(call_id=call_id, leg_id=leg, at=at)

    def _on_blindtransfer(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        if event.get("Result", "Success") != "Success":
            return
        transferer = event.get("TransfererLinkedid") or call_id
        effects.notices += self.tracker.end_leg(call_id=transferer, leg_id=leg_id(event.get("TransfererChannel", "")),
                                                at=at, reason="transferred")

    def _on_attendedtransfer(self, event: Mapping[str, str], call_id: str, at: datetime,
                             effects: Effects) -> None:
        if event.get("Result", "Success") != "Success":
            return
        for side in ("OrigTransferer", "SecondTransferer"):
            effects.notices += self.tracker.end_leg(call_id=event.get(f"{side}Linkedid") or call_id,
                                                    leg_id=leg_id(event.get(f"{side}Channel", "")), at=at,
                                                    reason="transferred")
        # Two calls become one: the target's side is followed into the call that lives on (the oldest Linkedid,
        # as Asterisk will rewrite it), so the consulted agent's popup shows the caller and nothing stays open.
        caller_call = event.get("TransfereeLinkedid") or call_id
        target_call = event.get("TransferTargetLinkedid") or caller_call
        if target_call != caller_call:
            survivor = older(caller_call, target_call)
            gone = target_call if survivor == caller_call else caller_call
            for unique_id in sorted(self.channels.get(gone, set())):
                self._follow(unique_id, gone, survivor, at, effects)

    def _on_hanguprequest(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        self._hanging_up.add(event.get("Uniqueid", ""))
        if _CAUSE_REASONS.get(event.get("Cause", "")) == "declined":
            self._held.declining((call_id, leg_id(event.get("Channel", ""))))

    _on_softhanguprequest = _on_hanguprequest

    def _on_hangup(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects) -> None:
        leg = leg_id(event.get("Channel", ""))
        cause_reason = _CAUSE_REASONS.get(event.get("Cause", ""))
        held = self._held.take((call_id, leg), cause_reason)
        if held is not None:
            reason, stopped_at = held
            effects.notices += self.tracker.stop_ringing(call_id=call_id, leg_id=leg, at=stopped_at, reason=reason)
        else:
            effects.notices += self.tracker.end_leg(call_id=call_id, leg_id=leg, at=at,
                                                    reason=cause_reason or "hangup")
        unique_id = event.get("Uniqueid", "")
        self._caller_channels.discard(unique_id)
        self._hanging_up.discard(unique_id)
        self._call_of.pop(unique_id, None)
        self._names.pop(unique_id, None)
        self.seen_at.pop(unique_id, None)
        channels = self.channels.get(call_id)
        if channels is not None:
            channels.discard(unique_id)
        # Every channel gone, or we never saw them (started mid-call) and the call's own hung up.
        if not channels and (channels is not None or unique_id == call_id):
            self._finish(call_id, at, effects)

    # -- helpers ------------------------------------------------------------

    def _track(self, unique_id: str, call_id: str, channel: str) -> None:
        if unique_id:
            self._touch(call_id)
            self.seen_at.setdefault(unique_id, self._received)
            self.channels.setdefault(call_id, set()).add(unique_id)
            self._call_of[unique_id] = call_id
            if channel:
                self._names[unique_id] = channel

    def _ring(self, event: Mapping[str, str], call_id: str, at: datetime, effects: Effects, *,
              queue: str | None) -> None:
        channel = event.get("DestChannel", "")
        self._track(event.get("DestUniqueid", ""), call_id, channel)
        agent_id = self._agent_for_device(device_of(channel))
        if agent_id is None:
            return
        colleague = self._originators.get(call_id)
        if call_id not in self.tracker.calls and colleague is not None:
            if colleague == agent_id:
                return  # the agent's own phone rung by their own call (an Originate to their device)
            number = event.get("CallerIDNum", "")
            self.tracker.enter(call_id=call_id, number=number or None, at=at, direction="internal")
            self.tracker.calls[call_id].caller_agent = colleague
            card = internal_card(number=number, name=self._agent_name(colleague))
            effects.cards.append((call_id, card.model_dump(mode="json")))
        self._seen_leg(call_id, leg_id(channel))
        effects.notices += self.tracker.ring(call_id=call_id, leg_id=leg_id(channel), agent_id=agent_id,
                                             queue=queue, at=at, number=self._number(event), channel=channel)

    def _hold_stop(self, call_id: str, leg: str, reason: str, at: datetime) -> None:
        """A ring stopped; its popup is dismissed once its channel's hang-up says why (or soon after)."""
        current = self.tracker.leg(call_id, leg)
        if current is not None and current.state is LegState.RINGING:
            self._held.hold((call_id, leg), reason, at)

    def _dismiss(self, stops: list[Stop], effects: Effects) -> None:
        for call_id, leg, reason, stopped_at in stops:
            effects.notices += self.tracker.stop_ringing(call_id=call_id, leg_id=leg, at=stopped_at, reason=reason)

    def let_go_all_held(self, effects: Effects) -> None:
        self._dismiss(self._held.everything(), effects)

    def _follow(self, unique_id: str, old: str, new: str, at: datetime, effects: Effects) -> None:
        """Channel ``unique_id`` now belongs to call ``new`` (a Linkedid rewrite): move it, and its agent's leg."""
        self._touch(old)
        channels = self.channels.get(old, set())
        channels.discard(unique_id)
        self._track(unique_id, new, "")
        name = self._names.get(unique_id, "")
        leg = self.tracker.leg(old, leg_id(name)) if name else None
        if leg is not None and leg.state is not LegState.DONE:
            self._seen_leg(new, leg.leg_id)
            answered = leg.state is LegState.ANSWERED
            effects.notices += self.tracker.end_leg(call_id=old, leg_id=leg.leg_id, at=at, reason="transferred")
            if new not in self.tracker.calls and old in self.tracker.calls:
                self.tracker.enter(call_id=new, number=self.tracker.calls[old].number, at=at)
            if answered:
                effects.notices += self.tracker.take_over(call_id=new, leg_id=leg.leg_id, agent_id=leg.agent_id,
                                                          at=at, channel=name)
            else:
                effects.notices += self.tracker.ring(call_id=new, leg_id=leg.leg_id, agent_id=leg.agent_id,
                                                     queue=None, at=at, channel=name)
        if not channels and old in self.channels:
            self._finish(old, at, effects)

    def _number(self, event: Mapping[str, str]) -> str | None:
        number = event.get("CallerIDNum", "")
        return None if number in _NO_NUMBER else number

    def _maybe_lookup(self, call_id: str, raw: str, effects: Effects) -> None:
        if raw in _NO_NUMBER or call_id in self._looked_up or call_id not in self.tracker.calls:
            return
        self._touch(call_id)
        self._looked_up.add(call_id)
        call = self.tracker.calls[call_id]
        call.number = call.number or raw
        effects.lookups.append((raw, call_id))

    def _finish(self, call_id: str, at: datetime, effects: Effects) -> None:
        self._dismiss(self._held.of_call(call_id), effects)
        for unique_id in self.channels.pop(call_id, set()):
            self.seen_at.pop(unique_id, None)
            if self._call_of.get(unique_id) == call_id:
                del self._call_of[unique_id]
                self._names.pop(unique_id, None)
        self._touch(call_id)
        for key in self._seen_legs.pop(call_id, ()):
            self.seen_at.pop(key, None)
        self._looked_up.discard(call_id)
        self._originators.pop(call_id, None)
        self.seen_at.pop(call_id, None)
        notices, call = self.tracker.end_call(call_id=call_id, at=at)
        effects.notices += notices
        if call is not None:
            effects.finished.append(call)
        self._ended[call_id] = None
        while len(self._ended) > _REMEMBERED_ENDED_CALLS:
            self._ended.popitem(last=False)

    def _restore_extra(self, snapshot: Mapping[str, Any]) -> None:
        for call_id, ids in self.channels.items():
            for unique_id in ids:
                self._call_of.setdefault(unique_id, call_id)

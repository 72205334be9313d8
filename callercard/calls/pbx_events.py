"""The generic HTTP event feed for PBXs without AMI, translated into the same state machine.

Modelled on the common CTI webhook shape: ``newCall`` when a call enters,
``ringing`` when an agent's phone rings, ``answer`` when an agent picks up,
``hangup`` for an agent's leg (with ``agent``) or for the whole call (without).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from callercard.agents.schemas import AgentId
from callercard.calls.state import Call, CallTracker, Effects
from callercard.pbxs import DEFAULT_PBX
from callercard.settings import PbxId

log = logging.getLogger(__name__)
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
_REMEMBERED_ENDED_CALLS = 10_000


class PbxEventType(StrEnum):
    NEW_CALL = "newCall"
    RINGING = "ringing"
    ANSWER = "answer"
    HANGUP = "hangup"


class PbxEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    event: PbxEventType = Field(validation_alias=AliasChoices("event", "type", "cmd"))
    call_id: Id = Field(validation_alias=AliasChoices("callId", "call_id"))
    from_: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, validation_alias=AliasChoices("from", "from_"))
    to: Annotated[str, StringConstraints(max_length=64)] | None = None
    agent: AgentId | None = Field(
        default=None, validation_alias=AliasChoices("agent", "user"))
    queue: Annotated[str, StringConstraints(max_length=80)] | None = None
    direction: Annotated[str, StringConstraints(pattern=r"^(inbound|outbound|internal)$")] = "inbound"
    pbx: PbxId = Field(default=DEFAULT_PBX, description="which PBX sends it, where several do; call ids are per PBX")
    # A time without its zone is refused (422 naming ``at``): the flow compares it with zoned times, and guessing
    # the PBX's zone would misplace the call by hours.
    at: AwareDatetime | None = Field(default=None, description="when it happened, with its zone (…Z or …+03:00); "
                                     "defaults to when it arrived")


class HttpCallFlow:
    def __init__(self, *, tracker: CallTracker, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.tracker = tracker
        self._clock = clock
        self._last_event: dict[str, datetime] = {}  # call id -> when its latest event arrived (our clock)
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._rings: dict[tuple[str, str], int] = {}  # (call, agent) -> how many times the agent was rung

    def seed(self, call_id: str, *, call: Call | None, rings: dict[str, int], last_event_at: datetime | None) -> None:
        """Take in one call's state as kept elsewhere (``redis_feed``), before its next event is applied."""
        if call is not None:
            self.tracker.calls[call_id] = call
        self._rings.update({(call_id, agent): count for agent, count in rings.items()})
        if last_event_at is not None:
            self._last_event[call_id] = last_event_at

    def rings_of(self, call_id: str) -> dict[str, int]:
        return {agent: count for (cid, agent), count in self._rings.items() if cid == call_id}

    def last_event_of(self, call_id: str) -> datetime | None:
        return self._last_event.get(call_id)

    def ended(self, call_id: str) -> bool:
        return call_id in self._ended

    def _leg(self, call_id: str, agent: str, *, new_ring: bool = False) -> str:
        """The agent's current leg; an agent rung again after a finished ring gets a new one."""
        count = self._rings.get((call_id, agent), 0)
        current = f"{call_id}/{agent}/{count}"
        if new_ring and (count == 0 or current not in {leg.leg_id for leg in self.tracker.ringing_legs(call_id)}):
            count += 1
            self._rings[(call_id, agent)] = count
        return f"{call_id}/{agent}/{count}"

    def handle(self, event: PbxEvent) -> Effects:
        effects = Effects()
        call_id, at = event.call_id, event.at or datetime.now(UTC)
        if call_id in self._ended:
            return effects
        self._last_event[call_id] = self._clock()
        if event.event is PbxEventType.NEW_CALL:
            if self.tracker.enter(call_id=call_id, number=event.from_, at=at, direction=event.direction) \
                    and event.from_ is not None:
                effects.lookups.append((event.from_, call_id))
        elif event.event is PbxEventType.RINGING and event.agent:
            if call_id not in self.tracker.calls:  # a ringing without newCall still gets its card
                effects.lookups += self.handle(event.model_copy(update={"event": PbxEventType.NEW_CALL})).lookups
            if event.queue:
                self.tracker.join_queue(call_id=call_id, queue=event.queue, number=event.from_, at=at)
            leg = self._leg(call_id, event.agent, new_ring=True)
            effects.notices += self.tracker.ring(call_id=call_id, leg_id=leg, agent_id=event.agent,
                                                 queue=event.queue, at=at, number=event.from_)
        elif event.event is PbxEventType.ANSWER and event.agent:
            effects.notices += self.tracker.answer(call_id=call_id, leg_id=self._leg(call_id, event.agent), at=at)
        elif event.event is PbxEventType.HANGUP and event.agent:
            effects.notices += self.tracker.end_leg(call_id=call_id, leg_id=self._leg(call_id, event.agent), at=at,
                                                    reason="hangup")
        elif event.event is PbxEventType.HANGUP:
            self._end(call_id, at, effects)
        return effects

    def _end(self, call_id: str, at: datetime, effects: Effects) -> None:
        notices, call = self.tracker.end_call(call_id=call_id, at=at)
        effects.notices += notices
        if call is not None:
            effects.finished.append(call)
        self._ended[call_id] = None
        self._last_event.pop(call_id, None)
        for key in [key for key in self._rings if key[0] == call_id]:
            del self._rings[key]
        while len(self._ended) > _REMEMBERED_ENDED_CALLS:
            self._ended.popitem(last=False)

    def expire_idle(self, *, call_idle_seconds: float, ring_idle_seconds: float) -> Effects:
        """A feed that stops sending must not leave popups open: a call with no event for ``call_idle_seconds``
        is ended (logged as last seen), a phone ringing with no event for ``ring_idle_seconds`` is dismissed."""
        effects = Effects()
        now = self._clock()
        for call_id in list(self.tracker.calls):
            idle = now - self._last_event.get(call_id, now)
            if idle > timedelta(seconds=call_idle_seconds):
                log.warning("call %s: no event for %.0f s; ended", call_id, idle.total_seconds())
                self._end(call_id, now, effects)
            elif idle > timedelta(seconds=ring_idle_seconds):
                for leg in self.tracker.ringing_legs(call_id):
                    effects.notices += self.tracker.stop_ringing(call_id=call_id, leg_id=leg.leg_id, at=now,
                                                                 reason="expired")
        return effects

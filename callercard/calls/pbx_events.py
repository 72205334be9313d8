"""The generic HTTP event feed for PBXs without AMI, translated into the same state machine.

Modelled on the common CTI webhook shape: ``newCall`` when a call enters,
``ringing`` when an agent's phone rings, ``answer`` when an agent picks up,
``hangup`` for an agent's leg (with ``agent``) or for the whole call (without).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints

from callercard.agents.schemas import AgentId
from callercard.calls.state import CallTracker, Effects

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
    direction: Annotated[str, StringConstraints(pattern=r"^(inbound|outbound)$")] = "inbound"
    at: datetime | None = Field(default=None, description="when it happened; defaults to when it arrived")


class HttpCallFlow:
    def __init__(self, *, tracker: CallTracker) -> None:
        self.tracker = tracker
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._rings: dict[tuple[str, str], int] = {}  # (call, agent) -> how many times the agent was rung

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
            notices, call = self.tracker.end_call(call_id=call_id, at=at)
            effects.notices += notices
            if call is not None:
                effects.finished.append(call)
            self._ended[call_id] = None
            for key in [key for key in self._rings if key[0] == call_id]:
                del self._rings[key]
            while len(self._ended) > _REMEMBERED_ENDED_CALLS:
                self._ended.popitem(last=False)
        return effects

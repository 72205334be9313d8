"""The call state machine: pure, fed by normalized signals from AMI or the HTTP event API.

A call is identified by its Linkedid (``call_id``). Each agent leg (one ringing
phone) is identified by its channel without the Local ``;1``/``;2`` half. Signals
may come duplicated, reordered or incomplete; every transition is idempotent and
a popup never outlives its leg or its call.

Card events per agent: ``ringing`` → (``answered`` → ``ended``) | ``dismissed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CardEvent(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"
    DISMISSED = "dismissed"
    # The resolved card of a call already on the agent's screen whose card was still being looked up.
    CARD = "card"


class LegState(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    DONE = "done"


class Outcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED_IN_GREETING = "missed_abandoned_in_greeting"
    ABANDONED_IN_QUEUE = "missed_abandoned_in_queue"
    ABANDONED_WHILE_RINGING = "missed_abandoned_while_ringing"
    UNANSWERED = "missed_unanswered"


@dataclass(frozen=True, slots=True)
class Notice:
    """One card event for one agent."""

    agent_id: str
    event: CardEvent
    call_id: str
    queue: str | None
    at: datetime
    reason: str | None = None
    channel: str | None = None  # the ringing leg's channel as the PBX names it (what a decline hangs up)
    leg_id: str | None = None  # the PBX's identity of the ringing phone (the card event's idempotency key)
    # The call's, when the notice was made: the notice is carried out later, when the tracker may have forgotten it.
    direction: str = "inbound"


@dataclass
class Effects:
    """What an adapter's input asks for: card events to publish, lookups to start, finished calls to log."""

    notices: list[Notice] = field(default_factory=list)
    lookups: list[tuple[str, str]] = field(default_factory=list)  # (number as given, call id)
    finished: list[Call] = field(default_factory=list)
    cards: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (call id, card known without lookup)
    received_at: float | None = None  # time.monotonic() when the adapter got its input (how late it is)
    state_seq: int | None = None  # the listener's count of events when it made these (its live-call saves)


@dataclass(slots=True)
class Leg:
    leg_id: str
    agent_id: str
    queue: str | None
    rung_at: datetime
    state: LegState = LegState.RINGING
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    # answered, no_answer, declined, busy, unavailable, answered_elsewhere, caller_hung_up, transferred, expired
    result: str | None = None
    channel: str | None = None


@dataclass(slots=True)
class Call:
    call_id: str
    number: str | None
    direction: str
    entered_at: datetime
    queues: list[str] = field(default_factory=list)
    legs: dict[str, Leg] = field(default_factory=dict)
    leg_order: list[str] = field(default_factory=list)
    ended_at: datetime | None = None
    # The PBX stopped trying (a queue's timeout, the dialplan moving on) while the caller was still there.
    given_up: bool = False
    caller_agent: str | None = None  # an internal call: the calling colleague's agent id
    pbx: str | None = None  # the PBX it is on, where one process serves several (the HTTP event feed)

    @property
    def first_ring_at(self) -> datetime | None:
        return min((leg.rung_at for leg in self.legs.values()), default=None)

    @property
    def answered_legs(self) -> list[Leg]:
        legs = [self.legs[key] for key in self.leg_order if self.legs[key].answered_at is not None]
        return sorted(legs, key=lambda leg: leg.answered_at or leg.rung_at)


class CallTracker:
    """All live calls. Methods return the card events to publish; ``end_call`` also returns the finished call."""

    def __init__(self, *, unanswered_after_seconds: float = 60.0) -> None:
        self.calls: dict[str, Call] = {}
        self._unanswered_after = unanswered_after_seconds
        # The calls any method may have changed since the set was last taken; None: nobody asks (kept_changes).
        self.touched: set[str] | None = None

    def keep_changes(self, touched: set[str]) -> None:
        """From now on, add the id of every call a method may change to ``touched`` (a listener saving only
        what changed). Reads may add too: an id too many costs a save, one too few loses a change."""
        self.touched = touched

    def _touch(self, call_id: str) -> None:
        if self.touched is not None:
            self.touched.add(call_id)

    def _call(self, call_id: str, at: datetime, number: str | None = None) -> Call:
        self._touch(call_id)
        call = self.calls.get(call_id)
        if call is None:
            call = self.calls[call_id] = Call(call_id=call_id, number=number, direction="inbound", entered_at=at)
        elif number and not call.number:
            call.number = number
        return call

    def enter(self, *, call_id: str, number: str | None, at: datetime, direction: str = "inbound") -> bool:
        """A call entered the PBX. True the first time (when its lookup should start)."""
        is_new = call_id not in self.calls
        call = self._call(call_id, at, number)
        if is_new:
            call.direction = direction
        return is_new

    def join_queue(self, *, call_id: str, queue: str, number: str | None, at: datetime) -> None:
        call = self._call(call_id, at, number)
        call.given_up = False  # routed on to a queue: the PBX is trying (again)
        if queue not in call.queues:
            call.queues.append(queue)

    def give_up(self, *, call_id: str) -> None:
        """The PBX stopped trying while the caller was still there (not the caller hanging up)."""
        self._touch(call_id)
        call = self.calls.get(call_id)
        if call is not None:
            call.given_up = True

    def ring(self, *, call_id: str, leg_id: str, agent_id: str, queue: str | None, at: datetime,
             number: str | None = None, channel: str | None = None) -> list[Notice]:
        call = self._call(call_id, at, number)
        if leg_id in call.legs or call.ended_at is not None:
            return []  # AgentCalled and DialBegin both announce a queue leg; the first one counts
        call.legs[leg_id] = Leg(leg_id=leg_id, agent_id=agent_id, queue=queue, rung_at=at, channel=channel)
        call.leg_order.append(leg_id)
        call.given_up = False
        return [Notice(agent_id, CardEvent.RINGING, call_id, queue, at, channel=channel, leg_id=leg_id,
                       direction=call.direction)]

    def take_over(self, *, call_id: str, leg_id: str, agent_id: str, at: datetime,
                  channel: str | None = None) -> list[Notice]:
        """An agent already talking joins this call (an attended transfer merged their call into it)."""
        self._touch(call_id)
        call = self.calls.get(call_id)
        if call is None or leg_id in call.legs or call.ended_at is not None:
            return []
        queue = call.queues[-1] if call.queues else None
        call.legs[leg_id] = Leg(leg_id=leg_id, agent_id=agent_id, queue=queue, rung_at=at, channel=channel,
                                state=LegState.ANSWERED, answered_at=at, result="answered")
        call.leg_order.append(leg_id)
        return [Notice(agent_id, CardEvent.ANSWERED, call_id, queue, at, leg_id=leg_id, direction=call.direction)]

    def stop_ringing(self, *, call_id: str, leg_id: str, at: datetime, reason: str) -> list[Notice]:
        leg = self._leg(call_id, leg_id)
        if leg is None or leg.state is not LegState.RINGING:
            return []
        leg.state, leg.ended_at, leg.result = LegState.DONE, at, reason
        return [Notice(leg.agent_id, CardEvent.DISMISSED, call_id, leg.queue, at, reason, leg_id=leg_id,
                       direction=self._direction(call_id))]

    def answer(self, *, call_id: str, leg_id: str, at: datetime) -> list[Notice]:
        call = self.calls.get(call_id)
        leg = self._leg(call_id, leg_id)
        if call is None or leg is None or leg.state is not LegState.RINGING:
            return []
        leg.state, leg.answered_at, leg.result = LegState.ANSWERED, at, "answered"
        notices = [Notice(leg.agent_id, CardEvent.ANSWERED, call_id, leg.queue, at, leg_id=leg_id,
                          direction=call.direction)]
        for other in call.legs.values():  # ring-all: everyone else's popup closes at once
            if other is not leg and other.state is LegState.RINGING:
                notices += self.stop_ringing(call_id=call_id, leg_id=other.leg_id, at=at,
                                             reason="answered_elsewhere")
        return notices

    def end_leg(self, *, call_id: str, leg_id: str, at: datetime, reason: str) -> list[Notice]:
        """The leg's channel is gone: a ringing popup is dismissed, an answered one ended."""
        leg = self._leg(call_id, leg_id)
        if leg is None or leg.state is LegState.DONE:
            return []
        if leg.state is LegState.RINGING:
            return self.stop_ringing(call_id=call_id, leg_id=leg_id, at=at, reason=reason)
        leg.state, leg.ended_at = LegState.DONE, at
        if reason == "transferred":
            leg.result = "transferred"
        return [Notice(leg.agent_id, CardEvent.ENDED, call_id, leg.queue, at, reason, leg_id=leg_id,
                       direction=self._direction(call_id))]

    def on_screen(self, call_id: str, agent_id: str) -> bool:
        """Whether the agent's leg of the call still rings or is answered."""
        call = self.calls.get(call_id)
        return call is not None and any(leg.agent_id == agent_id and leg.state is not LegState.DONE
                                        for leg in call.legs.values())

    def leg(self, call_id: str, leg_id: str) -> Leg | None:
        return self._leg(call_id, leg_id)

    def end_call(self, *, call_id: str, at: datetime) -> tuple[list[Notice], Call | None]:
        self._touch(call_id)
        call = self.calls.get(call_id)
        if call is None:
            return [], None
        notices: list[Notice] = []
        for leg_id in call.leg_order:
            notices += self.end_leg(call_id=call_id, leg_id=leg_id, at=at, reason="caller_hung_up")
        call.ended_at = at
        del self.calls[call_id]
        return notices, call

    def outcome(self, call: Call) -> Outcome:
        if call.answered_legs:
            return Outcome.ANSWERED
        if call.given_up:
            return Outcome.UNANSWERED
        ended = call.ended_at or call.entered_at
        if (ended - call.entered_at).total_seconds() >= self._unanswered_after:
            return Outcome.UNANSWERED
        if not call.queues and not call.legs:
            return Outcome.ABANDONED_IN_GREETING
        if any(leg.result == "caller_hung_up" for leg in call.legs.values()):
            return Outcome.ABANDONED_WHILE_RINGING
        return Outcome.ABANDONED_IN_QUEUE

    def ringing_legs(self, call_id: str) -> list[Leg]:
        call = self.calls.get(call_id)
        return [leg for leg in call.legs.values() if leg.state is LegState.RINGING] if call else []

    def _direction(self, call_id: str) -> str:
        call = self.calls.get(call_id)
        return call.direction if call else "inbound"

    def _leg(self, call_id: str, leg_id: str) -> Leg | None:
        self._touch(call_id)  # every change to a leg goes through here
        call = self.calls.get(call_id)
        return call.legs.get(leg_id) if call else None


def call_to_json(call: Call) -> dict[str, Any]:
    """A live call as JSON-ready data (datetimes as ISO-8601), for a process handing its calls to its successor.

    Written out field by field rather than by ``dataclasses.asdict``, whose deep copies were a fifth of the
    listener's time when it kept every live call (issue 20); ``call_from_json`` reads it back."""
    return {"call_id": call.call_id, "number": call.number, "direction": call.direction,
            "entered_at": call.entered_at.isoformat(), "queues": list(call.queues),
            "legs": {key: _leg_to_json(leg) for key, leg in call.legs.items()}, "leg_order": list(call.leg_order),
            "ended_at": _iso(call.ended_at), "given_up": call.given_up, "caller_agent": call.caller_agent,
            "pbx": call.pbx}


def _leg_to_json(leg: Leg) -> dict[str, Any]:
    return {"leg_id": leg.leg_id, "agent_id": leg.agent_id, "queue": leg.queue, "rung_at": leg.rung_at.isoformat(),
            "state": leg.state.value, "answered_at": _iso(leg.answered_at), "ended_at": _iso(leg.ended_at),
            "result": leg.result, "channel": leg.channel}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def call_from_json(data: dict[str, Any]) -> Call:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    legs = {leg_id: Leg(**{**leg, "state": LegState(leg["state"]), "rung_at": datetime.fromisoformat(leg["rung_at"]),
                           "answered_at": when(leg["answered_at"]), "ended_at": when(leg["ended_at"])})
            for leg_id, leg in data["legs"].items()}
    return Call(**{**data, "legs": legs, "entered_at": datetime.fromisoformat(data["entered_at"]),
                   "ended_at": when(data["ended_at"])})

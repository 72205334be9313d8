"""Rings that stopped, held until their channel's hang-up says why (pure).

Asterisk reports a ring's stop (``AgentRingNoAnswer``, ``DialEnd``) before the channel's ``Hangup``, whose cause
tells a refusal (21 call rejected, 17 busy) or an answer elsewhere (26) from a plain no-answer. A stop is held
until that hang-up, the next phone of the call ringing, the end of the call, or ``HOLD_AT_MOST`` after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

HOLD_AT_MOST = timedelta(seconds=1)
# DialEnd statuses that end a ring without an answer, and why.
DIAL_END_REASONS = {"NOANSWER": "no_answer", "BUSY": "declined", "CHANUNAVAIL": "unavailable",
                    "CONGESTION": "unavailable", "CANCEL": "caller_hung_up"}
# Hangup causes that name why a ringing phone stopped: 21 call rejected (the red button's Hangup, a phone's
# 603 Decline), 17 user busy (a phone's 486 Busy Here), 26 answered elsewhere (a ring group's other phone).
CAUSE_REASONS = {"21": "declined", "17": "declined", "26": "answered_elsewhere"}
Key = tuple[str, str]  # (call id, leg id)
Stop = tuple[str, str, str, datetime]  # (call id, leg id, reason, when the ring stopped)


class HeldStops:
    def __init__(self) -> None:
        self._held: dict[Key, tuple[str, datetime]] = {}
        # Legs whose channel was asked to hang up as refused before their ring's stop was reported.
        self._declining: set[Key] = set()

    def hold(self, key: Key, reason: str, at: datetime) -> None:
        """The first stop reported counts (a later CANCEL does not overwrite a no-answer)."""
        self._held.setdefault(key, ("declined" if key in self._declining else reason, at))

    def declining(self, key: Key) -> None:
        if key in self._held:
            self._held[key] = ("declined", self._held[key][1])
        else:
            self._declining.add(key)

    def answered(self, key: Key) -> None:
        self._held.pop(key, None)

    def take(self, key: Key, cause_reason: str | None) -> tuple[str, datetime] | None:
        """The leg's channel hung up: its held stop, with the reason the hang-up's cause gives, if any."""
        held = self._held.pop(key, None)
        declining = key in self._declining
        self._declining.discard(key)
        if held is None:
            return None
        return "declined" if declining else cause_reason or held[0], held[1]

    def due(self, call_id: str, at: datetime, *, ringing: str | None) -> list[Stop]:
        """Stops to let go now: this call's other legs when its leg ``ringing`` starts to ring, any held too long."""
        if not self._held:  # asked on every event: most of the time nothing is held
            return []
        return self._release(lambda key, stopped: (ringing is not None and key[0] == call_id and key[1] != ringing)
                             or at - stopped > HOLD_AT_MOST)

    def of_call(self, call_id: str) -> list[Stop]:
        return self._release(lambda key, _: key[0] == call_id)

    def everything(self) -> list[Stop]:
        return self._release(lambda _key, _stopped: True)

    def _release(self, wanted: Callable[[Key, datetime], bool]) -> list[Stop]:
        stops = [(key[0], key[1], reason, stopped) for key, (reason, stopped) in self._held.items()
                 if wanted(key, stopped)]
        for call_id, leg, _, _ in stops:
            del self._held[(call_id, leg)]
            self._declining.discard((call_id, leg))
        return stops

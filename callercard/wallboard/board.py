"""The supervisors' wallboard, per queue, from Asterisk's queue events. Pure.

Now: callers waiting (from ``QueueCallerJoin`` to ``QueueCallerLeave``, and ``QueueEntry`` of a
``QueueStatus`` at login) and the longest wait; agents free / on a call / paused / unavailable (the
queue's members, as the lines board keeps them). Today (in the wallboard's time zone): calls answered
(``AgentConnect``), answered within the service level (its ``HoldTime``, Asterisk's own count of the
seconds the caller waited in the queue, at most ``service_level_seconds``), abandoned
(``QueueCallerAbandon``), and the average wait of the answered calls. Each caller counts once per
queue, however often an event repeats.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from callercard.lines.board import Member

_BUSY_STATUSES = frozenset({"2", "3", "6", "7", "8"})  # in use, busy, ringing, ringing while in use, on hold
_UNAVAILABLE_STATUSES = frozenset({"4", "5"})  # invalid, unavailable
_COUNTED_REMEMBERED = 20_000
# Every event ``WallboardBoard.observe`` reads (the listener asks Asterisk for these: ``asterisk.event_filter``).
OBSERVED_EVENTS = frozenset({"QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentConnect"})


@dataclass
class Today:
    answered: int = 0
    answered_within_service_level: int = 0
    abandoned: int = 0
    answered_wait_seconds: float = 0.0  # the sum, for the average


@dataclass
class QueueState:
    waiting: dict[str, datetime] = field(default_factory=dict)  # caller's unique id -> when they joined
    today: Today = field(default_factory=Today)


def agents_of(members: Iterable[Member]) -> dict[str, int]:
    counts = {"free": 0, "on_call": 0, "paused": 0, "unavailable": 0}
    for member in members:
        if member.paused:
            counts["paused"] += 1
        elif member.free:
            counts["free"] += 1
        elif member.status in _UNAVAILABLE_STATUSES and not member.in_call:
            counts["unavailable"] += 1
        else:
            counts["on_call"] += 1
    return counts


class Wallboard:
    def __init__(self, *, service_level_seconds: float, timezone: tzinfo) -> None:
        self.service_level_seconds = service_level_seconds
        self.timezone = timezone
        self.queues: dict[str, QueueState] = {}
        self.day: date | None = None
        self._counted: OrderedDict[tuple[str, str, str], None] = OrderedDict()  # (queue, caller, what)

    def _queue(self, name: str) -> QueueState:
        return self.queues.setdefault(name, QueueState())

    def _roll(self, now: datetime) -> bool:
        """A new day (in the wallboard's zone) starts every queue's counts afresh; True when it did."""
        today = now.astimezone(self.timezone).date()
        if self.day == today:
            return False
        self.day = today
        for state in self.queues.values():
            state.today = Today()
        self._counted.clear()
        return True

    def _first(self, queue: str, caller: str, what: str) -> bool:
        key = (queue, caller, what)
        if key in self._counted:
            return False
        self._counted[key] = None
        while len(self._counted) > _COUNTED_REMEMBERED:
            self._counted.popitem(last=False)
        return True

    def observe(self, event: Mapping[str, str], *, now: datetime) -> set[str]:
        """Apply one AMI event received at ``now``; the queues whose board changed (all of them at midnight)."""
        rolled = self._roll(now)
        name, queue, caller = event.get("Event", ""), event.get("Queue", ""), event.get("Uniqueid", "")
        changed = set(self.queues) if rolled else set()
        if name not in OBSERVED_EVENTS or not queue or not caller:
            return changed
        state = self._queue(queue)
        if name == "QueueCallerJoin":
            state.waiting.setdefault(caller, now)
        elif name == "QueueCallerLeave":
            state.waiting.pop(caller, None)
        elif name == "AgentConnect" and self._first(queue, caller, "answered"):
            state.waiting.pop(caller, None)
            held = _seconds(event.get("HoldTime"))
            state.today.answered += 1
            state.today.answered_wait_seconds += held
            state.today.answered_within_service_level += held <= self.service_level_seconds
        elif name == "QueueCallerAbandon" and self._first(queue, caller, "abandoned"):
            state.waiting.pop(caller, None)
            state.today.abandoned += 1
        return changed | {queue}

    def replace_waiting(self, entries: Iterable[Mapping[str, str]], *, now: datetime) -> set[str]:
        """A full ``QueueStatus`` answer (after a login): the callers its ``QueueEntry`` items list are the ones
        waiting in the queues its ``QueueParams`` name, each since ``now`` minus its ``Wait``."""
        self._roll(now)
        fresh: dict[str, dict[str, datetime]] = {}
        for entry in entries:
            queue = entry.get("Queue", "")
            if entry.get("Event") == "QueueParams" and queue:
                fresh.setdefault(queue, {})
            elif entry.get("Event") == "QueueEntry" and queue and entry.get("Uniqueid"):
                since = now - timedelta(seconds=_seconds(entry.get("Wait")))
                fresh.setdefault(queue, {})[entry["Uniqueid"]] = since
        for queue, waiting in fresh.items():
            self._queue(queue).waiting = waiting
        return set(fresh)

    def summary(self, queue: str, *, members: Iterable[Member], now: datetime) -> dict[str, Any]:
        """One queue's board as the API and the wallboard page show it (JSON-ready)."""
        state = self.queues.get(queue, QueueState())
        today = state.today
        oldest = min(state.waiting.values(), default=None)
        return {"queue": queue, "service_level_seconds": self.service_level_seconds, "waiting": len(state.waiting),
                "oldest_waiting_since": oldest.isoformat() if oldest else None,
                "longest_wait_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0.0,
                "agents": agents_of(members),
                "today": {"day": self.day.isoformat() if self.day else None, "answered": today.answered,
                          "answered_within_service_level": today.answered_within_service_level,
                          "abandoned": today.abandoned,
                          "average_wait_seconds": round(today.answered_wait_seconds / today.answered, 1)
                          if today.answered else None}}

    def snapshot(self) -> dict[str, Any]:
        """What a restarted listener needs to go on counting today (saved in Redis)."""
        return {"day": self.day.isoformat() if self.day else None,
                "queues": {q: {"today": asdict(s.today), "waiting": {c: t.isoformat() for c, t in s.waiting.items()}}
                           for q, s in self.queues.items()}}

    def restore(self, snapshot: Mapping[str, Any], *, now: datetime) -> None:
        """Today's counts from ``snapshot`` if it is of today; callers waiting then until QueueStatus says."""
        self._roll(now)
        if snapshot.get("day") != (self.day.isoformat() if self.day else None):
            return
        for queue, saved in snapshot.get("queues", {}).items():
            self.queues[queue] = QueueState(
                waiting={c: datetime.fromisoformat(t) for c, t in saved.get("waiting", {}).items()},
                today=Today(**saved.get("today", {})))


def _seconds(text: str | None) -> float:
    try:
        return max(0.0, float(text or 0))
    except ValueError:
        return 0.0

"""Who is on which queue (an agent's "line"), from Asterisk's queue member events. Pure.

``free / on line`` per queue: members logged in to the queue, and of those the ones not
paused and not busy, as the widget's header shows them (``Line 1: 2/3``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MEMBER_EVENTS = frozenset({"QueueMemberAdded", "QueueMemberStatus", "QueueMemberPause", "QueueMemberPaused",
                            "QueueMemberRinginuse", "QueueMember"})
# Every event ``QueueBoard.observe`` reads (the listener asks Asterisk for these: ``asterisk.event_filter``).
OBSERVED_EVENTS = MEMBER_EVENTS | {"QueueMemberRemoved"}
# Asterisk's device states in which a member can take a call: unknown (0) and not in use (1).
_AVAILABLE_STATUSES = frozenset({"0", "1"})


@dataclass(frozen=True, slots=True)
class Member:
    interface: str
    name: str
    paused: bool
    status: str
    in_call: bool
    dynamic: bool

    @property
    def free(self) -> bool:
        return not self.paused and not self.in_call and self.status in _AVAILABLE_STATUSES


def member_from_event(event: Mapping[str, str]) -> Member:
    # QueueMember* events say Interface/MemberName; QueueStatus's QueueMember entries say Location/Name.
    return Member(interface=event.get("Interface") or event.get("Location", ""),
                  name=event.get("MemberName") or event.get("Name", ""),
                  paused=event.get("Paused", "0") == "1", status=event.get("Status", "0"),
                  in_call=event.get("InCall", "0") == "1", dynamic=event.get("Membership", "") != "static")


def _shown(member: Member) -> tuple[str, bool, bool, bool]:
    """What ``QueueBoard.summary`` shows of a member."""
    return member.name, member.paused, member.free, member.dynamic


class QueueBoard:
    def __init__(self) -> None:
        self.queues: dict[str, dict[str, Member]] = {}

    def observe(self, event: Mapping[str, str]) -> str | None:
        """Apply one AMI event; the queue whose line status changed, if any."""
        name, queue = event.get("Event", ""), event.get("Queue", "")
        if not queue or name not in OBSERVED_EVENTS:
            return None
        members = self.queues.setdefault(queue, {})
        # Compared member by member, not summary by summary: this runs on every member event (issue 20).
        if name not in MEMBER_EVENTS:
            return queue if members.pop(event.get("Interface", ""), None) is not None else None
        member = member_from_event(event)
        if not member.interface:
            return None
        before, members[member.interface] = members.get(member.interface), member
        return queue if before is None or _shown(before) != _shown(member) else None

    def replace(self, queue_members: Iterable[Mapping[str, str]]) -> set[str]:
        """A full QueueStatus answer's QueueParams/QueueMember entries: the queues it lists start afresh."""
        fresh: dict[str, dict[str, Member]] = {}
        for entry in queue_members:
            queue = entry.get("Queue", "")
            if entry.get("Event") == "QueueParams" and queue:
                fresh.setdefault(queue, {})
            elif entry.get("Event") == "QueueMember" and queue:
                member = member_from_event(entry)
                fresh.setdefault(queue, {})[member.interface] = member
        changed = {queue for queue, members in fresh.items() if members != self.queues.get(queue)}
        self.queues.update(fresh)
        return changed

    def summary(self, queue: str) -> dict[str, Any]:
        members = sorted(self.queues.get(queue, {}).values(), key=lambda m: m.interface)
        return {"queue": queue, "free": sum(1 for m in members if m.free), "on_line": len(members),
                "members": [{"interface": m.interface, "name": m.name, "paused": m.paused, "free": m.free,
                             "dynamic": m.dynamic} for m in members]}

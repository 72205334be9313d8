"""What a wallboard must show after recorded calls, read from the recordings themselves (the tests' oracle, written
from Asterisk's documented events, not with callercard's code)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from amisim import load_capture
from tests.support.captures import capture_path


def expected_today(captures: list[str], *, service_level: float) -> dict[str, dict[str, Any]]:
    """Per queue: answered (AgentConnect), within the service level (its HoldTime), abandoned (QueueCallerAbandon),
    average wait of the answered (their HoldTime)."""
    waits: dict[str, list[float]] = defaultdict(list)
    abandoned: dict[str, int] = defaultdict(int)
    for name in captures:
        for entry in load_capture(capture_path(f"{name}.jsonl")).replay_entries:
            event, queue = entry.headers.get("Event"), entry.headers.get("Queue", "")
            if entry.dir != "in":
                continue
            if event == "AgentConnect":
                waits[queue].append(float(entry.headers["HoldTime"]))
            elif event == "QueueCallerAbandon":
                abandoned[queue] += 1
    return {queue: {"answered": len(waits[queue]),
                    "answered_within_service_level": sum(1 for w in waits[queue] if w <= service_level),
                    "abandoned": abandoned[queue],
                    "average_wait_seconds": round(sum(waits[queue]) / len(waits[queue]), 1) if waits[queue] else None}
            for queue in sorted(set(waits) | set(abandoned))}


def expected_agents(captures: list[str]) -> dict[str, dict[str, int]]:
    """Per queue, each member's last reported state (QueueMember* events), counted free / on a call / paused /
    unavailable by Asterisk's device states: 0 unknown and 1 not in use are free; 4 invalid and 5 unavailable are
    unavailable; the others (in use, busy, ringing, on hold) are on a call."""
    members: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for name in captures:
        for entry in load_capture(capture_path(f"{name}.jsonl")).replay_entries:
            event, queue = entry.headers.get("Event", ""), entry.headers.get("Queue", "")
            interface = entry.headers.get("Interface") or entry.headers.get("Location")  # QueueStatus: Location
            if entry.dir != "in" or not event.startswith("QueueMember") or not queue or not interface:
                continue
            if event == "QueueMemberRemoved":
                members[queue].pop(interface, None)
            else:
                members[queue][interface] = entry.headers
    counted: dict[str, dict[str, int]] = {}
    for queue, by_interface in members.items():
        counts = {"free": 0, "on_call": 0, "paused": 0, "unavailable": 0}
        for member in by_interface.values():
            status, in_call = member.get("Status", "0"), member.get("InCall", "0") == "1"
            if member.get("Paused") == "1":
                counts["paused"] += 1
            elif status in ("0", "1") and not in_call:
                counts["free"] += 1
            elif status in ("4", "5") and not in_call:
                counts["unavailable"] += 1
            else:
                counts["on_call"] += 1
        counted[queue] = counts
    return counted

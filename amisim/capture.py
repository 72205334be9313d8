"""Recorded AMI sessions: the capture file, its entries, the login exchange and the recorded answers to actions.

A capture is a JSON Lines file: a header object, then ``{"t", "dir", "raw"}`` entries (``in`` = sent by
Asterisk, ``out`` = sent by the recording client). Every entry's headers are read with the product's one AMI
parser (``asterisk.ami_message``), so what a test or the simulator reads of a capture is what the listener reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from asterisk.ami_message import parse_headers

DEFAULT_BANNER = "Asterisk Call Manager/11.0.0\r\n"
LOGIN_OK = "Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n\r\n"
FULLY_BOOTED = ("Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1\r\nLastReload: 1\r\n"
                "Status: Fully Booted\r\n\r\n")
# login_failed.jsonl: Asterisk sleeps 1 s, sends this and closes the session (action_login returns -1).
LOGIN_FAILED = "Response: Error\r\nActionID: {action_id}\r\nMessage: Authentication failed\r\n\r\n"
BROADCAST_EVENTS = frozenset({"OriginateResponse"})


@dataclass(frozen=True)
class Entry:
    t: float
    dir: str  # "in" | "out"
    raw: str

    @cached_property
    def headers(self) -> dict[str, str]:
        return parse_headers(self.raw)


@dataclass(eq=False)
class Capture:
    header: dict[str, Any]
    entries: list[Entry]

    @property
    def name(self) -> str:
        return str(self.header.get("capture", ""))

    @cached_property
    def out_action_ids(self) -> frozenset[str]:
        return frozenset(e.headers["ActionID"] for e in self.entries
                         if e.dir == "out" and "ActionID" in e.headers)

    @cached_property
    def banner(self) -> str:
        first_in = next((e.raw for e in self.entries if e.dir == "in"), "")
        return first_in if first_in.startswith("Asterisk Call Manager/") else DEFAULT_BANNER

    @cached_property
    def login_exchange(self) -> tuple[int, str, str, str, float]:
        """(index of the login response or -1, ok template, FullyBooted, failure template, failure delay)"""
        ok, booted, failed, delay, index = LOGIN_OK, FULLY_BOOTED, LOGIN_FAILED, 1.0, -1
        login = next((e for e in self.entries
                      if e.dir == "out" and e.headers.get("Action", "").lower() == "login"), None)
        aid = login.headers.get("ActionID", "") if login else ""
        for i, e in enumerate(self.entries):
            if (login and aid and e.dir == "in" and e.headers.get("ActionID") == aid
                    and "Response" in e.headers):
                if e.headers["Response"] == "Success":
                    ok, index = templatize(e.raw, aid), i
                    j = next((j for j in range(i + 1, len(self.entries)) if self.entries[j].dir == "in"), -1)
                    if j > 0 and self.entries[j].headers.get("Event") == "FullyBooted":
                        booted, index = self.entries[j].raw, j
                else:
                    failed, delay = templatize(e.raw, aid), e.t - login.t
                break
        return index, ok, booted, failed, delay

    @cached_property
    def replay_entries(self) -> list[Entry]:
        """The ``in`` messages sent after a successful login, in order."""
        start = self.login_exchange[0] + 1
        return [e for e in self.entries[start:]
                if e.dir == "in" and not e.raw.startswith("Asterisk Call Manager/")
                and not (e.headers.get("ActionID") in self.out_action_ids
                         and e.headers.get("Event") not in BROADCAST_EVENTS)]

    @property
    def replay_t0(self) -> float:
        index = self.login_exchange[0]
        return self.entries[index].t if index >= 0 else 0.0


def load_capture(path: str | Path) -> Capture:
    lines = [line for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]
    if not lines:
        raise ValueError(f"{path}: empty capture")
    entries = []
    for number, line in enumerate(lines[1:], start=2):
        item = json.loads(line)
        if item.get("dir") not in ("in", "out") or not isinstance(item.get("raw"), str):
            raise ValueError(f"{path}:{number}: not a capture entry")
        entries.append(Entry(float(item["t"]), item["dir"], item["raw"]))
    return Capture(json.loads(lines[0]), entries)


def templatize(raw: str, action_id: str) -> str:
    return raw.replace(f"ActionID: {action_id}\r\n", "ActionID: {action_id}\r\n")


def render(template: str, action_id: str | None) -> str:
    if not action_id:  # Asterisk leaves the header out when the action had none
        return template.replace("ActionID: {action_id}\r\n", "")
    return template.replace("{action_id}", action_id)


def recorded_responses(capture: Capture) -> dict[str, list[str]]:
    """Action name -> the recorded replies (templates with ``{action_id}``) to its ``out`` actions, in order.

    A reply is every ``in`` message with the action's ActionID (for list actions: response and events),
    except broadcast events such as OriginateResponse, which stay in the replay."""
    replies: dict[str, list[str]] = {}
    for e in capture.entries:
        aid = e.headers.get("ActionID")
        if e.dir == "in" and aid and e.headers.get("Event") not in BROADCAST_EVENTS:
            replies.setdefault(aid, []).append(e.raw)
    result: dict[str, list[str]] = {}
    for e in capture.entries:
        action, aid = e.headers.get("Action"), e.headers.get("ActionID")
        if e.dir == "out" and action and aid and aid in replies and action.lower() != "login":
            result.setdefault(action, []).append(templatize("".join(replies[aid]), aid))
    return result


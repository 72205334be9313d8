"""A capture's call as the recording shows it, read independently of the call flow: when it entered, when an
agent first answered, when it ended, and how precise those moments are (for wait and talk seconds)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asterisk.ami_message import parse_headers
from asterisk.channels import call_id_of, device_of, event_time
from tests.support.captures import capture_path
from tests.support.scenarios import DEMO_AGENTS

AGENT_DEVICES = {device.lower() for spec in DEMO_AGENTS.values() for device in spec["devices"]}
T0 = datetime(2026, 11, 22, tzinfo=UTC)  # the replay clock's origin for captures without Timestamp headers
_SAME_INSTANT = timedelta(milliseconds=5)  # Asterisk sends one moment's events within a few milliseconds


def recorded_events(name: str) -> Iterator[tuple[datetime, Mapping[str, str]]]:
    """Each event Asterisk sent, parsed as the listener parses it, with the replay clock (T0 + ``t``)."""
    for line in capture_path(f"{name}.jsonl").read_text().splitlines()[1:]:
        entry = json.loads(line)
        if entry["dir"] == "in" and entry["raw"].startswith("Event:"):
            yield T0 + timedelta(seconds=entry["t"]), parse_headers(entry["raw"])


@dataclass(frozen=True)
class RecordedCall:
    entered: datetime
    answered: datetime | None
    ended: datetime
    slack: float  # seconds: how long the instants above took to be told (their events' spread)

    @property
    def wait_seconds(self) -> float:
        return ((self.answered or self.ended) - self.entered).total_seconds()

    @property
    def talk_seconds(self) -> float:
        return (self.ended - self.answered).total_seconds() if self.answered else 0.0


def recorded_call(events: list[tuple[datetime, Mapping[str, str]]]) -> RecordedCall:
    """From a call's AMI events (the replay clock, or the PBX's ``Timestamp``): its first event, the first
    answer by an agent's device (DialEnd ANSWER), its last hang-up."""
    times = [(event_time(event, at), event) for at, event in events if call_id_of(event)]
    entered = times[0][0]
    answered = next((at for at, event in times if event.get("Event") == "DialEnd"
                     and event.get("DialStatus") == "ANSWER"
                     and device_of(event.get("DestChannel", "")).lower() in AGENT_DEVICES), None)
    ended = [at for at, event in times if event.get("Event") == "Hangup"][-1]
    moments = [at for at, _ in times]

    def spread(moment: datetime) -> float:
        burst = [at for at in moments if abs(at - moment) <= _SAME_INSTANT]
        return (max(burst) - min(burst)).total_seconds()

    slack = sum(spread(moment) for moment in (entered, answered, ended) if moment is not None)
    return RecordedCall(entered=entered, answered=answered, ended=ended, slack=slack + 0.001)  # records: ms

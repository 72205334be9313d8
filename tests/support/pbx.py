"""A recorded PBX for desk tests: the capture-replaying AMI server on the API's own AMI port, and a listener."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

from amisim import AmiSimulator, Capture, clone_with_fresh_ids, load_capture, recorded_responses
from callercard.settings import Settings
from tests.support.captures import capture_path
from tests.support.processes import Process


def recorded_answer(capture: str, action: str, index: int = 0) -> str:
    """A real Asterisk answer to ``action`` from a capture (``{action_id}`` template)."""
    return recorded_responses(load_capture(capture_path(f"{capture}.jsonl")))[action][index]


def recorded(capture: str, clone: int = 0) -> Capture:
    """A capture; ``clone`` > 0: the same calls again as another call would be (fresh ids), e.g. a caller's next."""
    loaded = load_capture(capture_path(f"{capture}.jsonl"))
    return clone_with_fresh_ids(loaded, clone) if clone else loaded


@asynccontextmanager
async def recorded_calls(settings: Settings, calls: Sequence[tuple[str, int]], *, speed: float = 1.0,
                         responses: Mapping[str, str | Sequence[str]] | None = None,
                         answer_delays: Mapping[str, float] | None = None) -> AsyncIterator[AmiSimulator]:
    """The simulator on ``settings.ami_port`` playing ``calls`` ((capture, clone) pairs) one after the other."""
    captures = [recorded(name, clone) for name, clone in calls]
    simulator = AmiSimulator(captures[0], then=captures[1:], username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=speed, port=settings.ami_port,
                             responses=responses, answer_delays=answer_delays)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@asynccontextmanager
async def recorded_pbx(settings: Settings, capture: str, *, speed: float = 1.0,
                       responses: Mapping[str, str | Sequence[str]] | None = None, clone: int = 0,
                       answer_delays: Mapping[str, float] | None = None) -> AsyncIterator[AmiSimulator]:
    """The simulator on ``settings.ami_port``: the API's actions and the listener's events meet one PBX.

    ``clone`` > 0 replays the same calls again as another call would be (fresh ids), e.g. a caller's next call."""
    async with recorded_calls(settings, [(capture, clone)], speed=speed, responses=responses,
                              answer_delays=answer_delays) as simulator:
        yield simulator


@asynccontextmanager
async def listening(service_env: Mapping[str, str], name: str) -> AsyncIterator[Process]:
    """The real listener process, logged in to the simulated PBX; its log is in test-artifacts/."""
    listener = Process(f"listener-{name}", ["listener"], service_env).start()
    try:
        yield listener
    finally:
        listener.stop()


def actions(simulator: AmiSimulator, name: str) -> list[dict[str, str]]:
    return [a for a in simulator.received_actions if a.get("Action", "").lower() == name.lower()]

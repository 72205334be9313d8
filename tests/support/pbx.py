"""A recorded PBX for desk tests: the capture-replaying AMI server on the API's own AMI port, and a listener."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

from amisim import AmiSimulator, load_capture, recorded_responses
from callercard.settings import Settings
from tests.support.captures import capture_path
from tests.support.processes import Process


def recorded_answer(capture: str, action: str, index: int = 0) -> str:
    """A real Asterisk answer to ``action`` from a capture (``{action_id}`` template)."""
    return recorded_responses(load_capture(capture_path(f"{capture}.jsonl")))[action][index]


@asynccontextmanager
async def recorded_pbx(settings: Settings, capture: str, *, speed: float = 1.0,
                       responses: Mapping[str, str | Sequence[str]] | None = None) -> AsyncIterator[AmiSimulator]:
    """The simulator on ``settings.ami_port``: the API's actions and the listener's events meet one PBX."""
    simulator = AmiSimulator(load_capture(capture_path(f"{capture}.jsonl")), username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=speed, port=settings.ami_port,
                             responses=responses)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


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

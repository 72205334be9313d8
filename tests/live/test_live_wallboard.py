"""The wallboard on the real Asterisk: calls made for real (SIPp phones, the PBX's own queues), the real listener
counting them, and the board compared with what Asterisk itself reported to the test's own AMI session (every
``AgentConnect`` with its ``HoldTime``, every ``QueueCallerAbandon``), so the expected numbers come from the PBX."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from callercard.settings import Settings
from tests.support.processes import ARTIFACTS, Process
from tools.ami_client import AmiClient
from tools.pbx_scenarios import SCENARIOS as CALLS
from tools.pbx_scenarios import Pbx
from tools.phones import Phone

# In support: answered at once, and answered after a first phone rang 4 s; in sales a ring-all; in second a caller
# who gives up (nobody is on that line).
MADE = ["pjsip_answered", "pjsip_no_answer_then_next_agent", "pjsip_ringall_one_answers",
        "abandon_in_queue_nobody_free"]
SERVICE_LEVEL = 3


@pytest.fixture
def wallboard_listener(service_env: dict[str, str], live_pbx: dict[str, str], seeded: dict[str, str]) -> Iterator[
        Process]:
    process = Process("listener-live-wallboard", ["listener"],
                      {**service_env, "CALLERCARD_AMI_PORT": live_pbx["CALLERCARD_LIVE_AMI_PORT"],
                       "CALLERCARD_SERVICE_LEVEL_SECONDS": str(SERVICE_LEVEL)}).start()
    process.wait_until(lambda: "resynchronized with CoreShowChannels" in process.log_path.read_text(), timeout=30)
    yield process
    process.stop()


def what_asterisk_said(messages: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    waits: dict[str, list[float]] = defaultdict(list)
    abandoned: dict[str, int] = defaultdict(int)
    for message in messages:
        if message.get("Event") == "AgentConnect":
            waits[message["Queue"]].append(float(message["HoldTime"]))
        elif message.get("Event") == "QueueCallerAbandon":
            abandoned[message["Queue"]] += 1
    return {queue: {"answered": len(waits[queue]),
                    "answered_within_service_level": sum(1 for w in waits[queue] if w <= SERVICE_LEVEL),
                    "abandoned": abandoned[queue],
                    "average_wait_seconds": round(sum(waits[queue]) / len(waits[queue]), 1) if waits[queue] else None}
            for queue in sorted(set(waits) | set(abandoned))}


async def boards(admin_api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {b["queue"]: b for b in (await admin_api.get("/api/v1/wallboard")).json()["queues"]}


async def test_the_wallboard_counts_what_the_real_asterisk_reported(
        settings: Settings, api_process: Process, worker_process: Process, admin_api: httpx.AsyncClient,
        wallboard_listener: Process, pbx_ami: AmiClient, phones: dict[str, Phone]) -> None:
    for number, phone in phones.items():  # every call each phone gets, in the order the calls are made
        behaviours = [b for name in MADE for b in CALLS[name].phones.get(number, [])]
        if behaviours:
            phone.serve(behaviours).ready()
    start = len(pbx_ami.messages)
    for name in MADE:
        pbx = Pbx(ami=pbx_ami, phones=phones)
        await CALLS[name].drive(pbx)
        if name == "abandon_in_queue_nobody_free":  # the caller waits in 'second' for 5 s: the board says so
            async with asyncio.timeout(5):
                while (await boards(admin_api)).get("second", {}).get("waiting") != 1:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
        await pbx.settle()
        await pbx_ami.wait_idle(timeout=60, poll=0.5)
    await asyncio.sleep(1.5)  # the listener's last board reaches Redis
    expected = what_asterisk_said(pbx_ami.messages[start:])
    (ARTIFACTS / "live-wallboard.json").write_text(json.dumps(expected, indent=2))
    assert set(expected) == {"support", "sales", "second"}, expected
    shown = await boards(admin_api)
    assert {queue: {k: shown[queue]["today"][k] for k in counts} for queue, counts in expected.items()} == expected
    now = {queue: (shown[queue]["waiting"], shown[queue]["service_level_seconds"]) for queue in expected}
    assert now == dict.fromkeys(expected, (0, SERVICE_LEVEL))

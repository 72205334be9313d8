# ruff: noqa: F811  (the shared fixtures are imported by name, then asked for by name)
"""The live PBX: a real Asterisk (scripts/asterisk.sh) with the project's snippets and tests/live/pbx/, agents'
phones played by SIPp, and the real listener, worker, API and Centrifugo of the integration suite.

The Asterisk build comes from CALLERCARD_TEST_ASTERISK (``.ci/run`` sets it); without it these tests are skipped.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.integration.conftest import (  # noqa: F401  (fixtures shared with the integration suite)
    api_process,
    api_url,
    base_settings,
    seeded,
    service_env,
    settings,
    worker_process,
)
from tests.support.processes import ARTIFACTS, ROOT
from tools.ami_client import AmiClient
from tools.phones import Phone

HOW_TO_GET_ONE = ("no Asterisk for the live PBX tests: set CALLERCARD_TEST_ASTERISK to a folder holding "
                  "asterisk-22.10.1-debian12-amd64.tar.xz, run-asterisk.sh and SHA256SUMS (the project's Asterisk "
                  "22 build with PJSIP; .ci/run names it), or run docker-compose's asterisk service and these "
                  "scenarios by hand (tools/pbx_scenarios.py)")
QUEUE_MEMBERS = {"support": ["201", "202"], "sales": ["201", "202", "203"], "night": ["203"]}


def _asterisk(command: str) -> None:
    subprocess.run([str(ROOT / "scripts" / "asterisk.sh"), "--profile", "test", command], check=True)


@pytest.fixture(scope="session")
def live_pbx(service_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The real Asterisk, started once per session; its ports and CLI (``var/test/asterisk/pbx.env``)."""
    if not os.environ.get("CALLERCARD_TEST_ASTERISK"):
        pytest.skip(HOW_TO_GET_ONE)
    _asterisk("up")
    env_file = ROOT / "var" / "test" / "asterisk" / "pbx.env"
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    yield env
    _asterisk("down")


@pytest.fixture
async def pbx_ami(live_pbx: dict[str, str], service_env: dict[str, str]) -> AsyncIterator[AmiClient]:
    """An AMI session of the test's own (what places the calls), on an idle PBX with every member unpaused."""
    ami = AmiClient(host="127.0.0.1", port=int(live_pbx["CALLERCARD_LIVE_AMI_PORT"]),
                    username=service_env["CALLERCARD_AMI_USERNAME"], secret=service_env["CALLERCARD_AMI_SECRET"])
    await ami.connect()
    await ami.wait_idle(timeout=30, poll=0.3)
    try:
        yield ami
    finally:
        for queue, members in QUEUE_MEMBERS.items():  # a test that failed midway leaves nobody paused
            for member in members:
                await ami.send({"Action": "QueuePause", "Queue": queue, "Interface": f"PJSIP/{member}",
                                "Paused": "false"})
        await ami.close()


@pytest.fixture
def phones(live_pbx: dict[str, str], request: pytest.FixtureRequest) -> Iterator[dict[str, Phone]]:
    logs = ARTIFACTS / "phones" / request.node.name.replace("/", "_")
    made = {number: Phone(number=number, port=int(live_pbx[f"CALLERCARD_LIVE_PHONE_{number}_PORT"]),
                          pbx_sip_port=int(live_pbx["CALLERCARD_LIVE_SIP_PORT"]), log_dir=logs)
            for number in ("201", "202", "203")}
    yield made
    for phone in made.values():
        phone.stop()

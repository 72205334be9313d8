"""Every PBX scenario made for real: Asterisk rings SIPp phones, the real listener pops up cards on the agents'
pages through Centrifugo, the worker logs the call. Each agent's full events and the whole record are compared
with what the scenario must give (tests/support/scenarios.py), the seconds with the PBX's own event times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from callercard.settings import Settings
from tests.integration.test_call_flow import assert_logged_as, card_events, expected_card_events, wait_for_call
from tests.support.agents import AgentPage
from tests.support.processes import Process
from tests.support.recorded_calls import recorded_call
from tests.support.scenarios import DEMO_AGENTS, SCENARIOS
from tools.ami_client import AmiClient
from tools.pbx_scenarios import SCENARIOS as CALLS
from tools.pbx_scenarios import Pbx
from tools.phones import Phone


@pytest.fixture
def listener(service_env: dict[str, str], live_pbx: dict[str, str], seeded: dict[str, str],
             request: pytest.FixtureRequest) -> Process:
    """The real listener on the live PBX, started once the agents are in the directory."""
    process = Process(f"listener-live-{request.node.callspec.id}", ["listener"],
                      {**service_env, "CALLERCARD_AMI_PORT": live_pbx["CALLERCARD_LIVE_AMI_PORT"],
                       "CALLERCARD_AMI_RECONCILE_SECONDS": "5"}).start()
    process.wait_until(lambda: "resynchronized with CoreShowChannels" in process.log_path.read_text(), timeout=30)
    yield process
    process.stop()


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_a_live_call_pops_up_and_is_logged_as_it_happened(
        name: str, settings: Settings, api_process: Process, worker_process: Process, admin_api: httpx.AsyncClient,
        pages: dict[str, AgentPage], listener: Process, pbx_ami: AmiClient, phones: dict[str, Phone]) -> None:
    call, scenario = CALLS[name], SCENARIOS[name]
    for number, behaviours in call.phones.items():
        phones[number].serve(behaviours).ready()
    start = len(pbx_ami.messages)
    pbx = Pbx(ami=pbx_ami, phones=phones)
    await call.drive(pbx)
    await pbx.settle()
    await asyncio.sleep(1.0)
    await pbx_ami.wait_idle(timeout=60, poll=0.5)
    for phone in phones.values():
        assert phone.wait(timeout=15) in ([], [0]), f"phone {phone.number}'s script did not run as written"
    for agent_id, events in scenario.events.items():
        await pages[agent_id].wait_for(len(events), timeout=10)
    await asyncio.sleep(0.5)  # an extra event would show up here

    assert {agent_id: card_events(page) for agent_id, page in pages.items()} == \
        {agent_id: expected_card_events(scenario, agent_id) for agent_id in DEMO_AGENTS}
    calls = (await admin_api.get("/api/v1/calls")).json()
    async with asyncio.timeout(15):
        while not calls:
            await asyncio.sleep(0.2)
            calls = (await admin_api.get("/api/v1/calls")).json()
    [logged] = calls
    record = await wait_for_call(admin_api, logged["call_id"])
    assert_logged_as(record, scenario)
    pbx_said = recorded_call([(datetime.now(UTC), event) for event in pbx_ami.messages[start:]])
    assert record["wait_seconds"] == pytest.approx(pbx_said.wait_seconds, abs=pbx_said.slack)
    assert record["talk_seconds"] == pytest.approx(pbx_said.talk_seconds, abs=pbx_said.slack)

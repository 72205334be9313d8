"""A deployment whose customers live in the CRM: a recorded call replayed to a real listener and worker that ask
the CRM's HTTP API (served for real), and the agents' pages on Centrifugo."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from amisim import AmiSimulator, load_capture
from callercard import phone
from callercard.ports import LOOKUP_CALLER
from callercard.settings import Settings
from tests.integration.test_call_flow import SPEED, wait_for_call
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.crm import CrmServer
from tests.support.processes import Process, settings_kwargs
from tests.support.scenarios import SCENARIOS
from worker.app import create_celery

CAPTURE = "answered_agent_hangs_up"
CRM_DELAY = 0.5  # longer than the PBX's 300 ms lookup budget; the greeting leaves time for it


@pytest.fixture
def crm(settings: Settings) -> Iterator[CrmServer]:
    server = CrmServer().start()
    yield server
    server.stop()


@pytest.fixture
def crm_env(service_env: dict[str, str], crm: CrmServer) -> dict[str, str]:
    """The listener's and the worker's settings: the CRM as the only source, on a Redis database of their own, so
    the session's worker (which knows only the built-in accounts) takes none of their tasks."""
    redis_url = service_env["CALLERCARD_REDIS_URL"].rsplit("/", 1)[0] + "/5"
    return {**service_env, "CALLERCARD_REDIS_URL": redis_url,
            "CALLERCARD_LOOKUP_SOURCES": json.dumps([crm.source(timeout_ms=3000)])}


async def test_a_number_the_crm_knows_resolves_to_its_crm_account_before_the_first_ring(
        crm: CrmServer, crm_env: dict[str, str], settings: Settings, api_process: Process,
        admin_api: httpx.AsyncClient, pages: dict[str, AgentPage]) -> None:
    caller = SCENARIOS[CAPTURE].caller
    crm.add("K-77", "Ivan", "Crmov", "8 (495) 123-45-67")
    crm.delays["4951234567"] = CRM_DELAY
    worker = Process("worker-crm", ["worker", "--concurrency", "1"], crm_env).start()
    worker.wait_until(lambda: "ready." in worker.log_path.read_text(errors="replace"), timeout=60)
    simulator = AmiSimulator(load_capture(capture_path(f"{CAPTURE}.jsonl")), username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=SPEED)
    await simulator.start()
    listener = Process("listener-crm", ["listener"], {**crm_env, "CALLERCARD_AMI_PORT": str(simulator.port)}).start()
    try:
        await simulator.wait_finished(timeout=30)
        await asyncio.sleep(1.0)
        first_ring = next(event for page in pages.values() for event in page.received if event["event"] == "ringing")
        card = first_ring["card"]
        assert card.get("pending") is None, "the card was resolved before the first ring"
        assert card["accounts"] == [{"id": "K-77", "holder": "Ivan Crmov", "status": "active",
                                     "crm_url": "https://crm.example/customers/K-77"}]
        assert (card["kind"], card["display_name"], card["number"], card["degraded"]) == \
            ("known", "Ivan Crmov", caller, False)
        assert card["e164"] == phone.normalize(caller).e164

        record = await wait_for_call(admin_api, first_ring["call_id"])  # logged by the CRM deployment's worker
        assert record["caller"]["number"] == caller
        # One lookup per call: the listener's, which fills the card cache for everyone (no worker warm-up).
        assert len(crm.requests) == 1, crm.requests

        # The worker resolves cards from the CRM too: a number only the CRM has, through the worker's task.
        crm.add("K-78", "Olga", "Crmova", "8-916-555-44-33")
        celery = create_celery(Settings(**settings_kwargs(crm_env)))  # type: ignore[arg-type]
        result = celery.send_task(LOOKUP_CALLER, args=["+7 916 555 44 33"], kwargs={"call_id": "crm-1"})
        warmed = await asyncio.to_thread(result.get, timeout=20)
        assert (warmed["kind"], [a["id"] for a in warmed["accounts"]]) == ("known", ["K-78"])
    finally:
        listener.stop()
        await simulator.stop()
        worker.stop()

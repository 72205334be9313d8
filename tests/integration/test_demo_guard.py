"""The demo's login-free token endpoint: only with the demo on, only for the demo's own agents, and the API refuses
to start with the demo on unless it listens on loopback (or an explicit setting says otherwise, with a warning)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.directory import put_demo_directory
from tests.support.faults import free_port
from tests.support.processes import Process, http_answers, run_cli


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "callercard.example"])
def test_the_api_refuses_to_start_with_the_demo_on_off_loopback(service_env: dict[str, str], host: str) -> None:
    result = run_cli({**service_env, "CALLERCARD_DEMO_ENABLED": "true", "CALLERCARD_API_HOST": host,
                      "CALLERCARD_API_PORT": str(free_port())}, "api")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "callercard: refusing to start: CALLERCARD_DEMO_ENABLED=true serves a login-free token endpoint for the "
        f"demo's agents, and the API would listen on {host}: set CALLERCARD_API_HOST=127.0.0.1, turn the demo off, "
        "or set CALLERCARD_DEMO_ALLOW_NON_LOOPBACK=true if others must reach this demo")


async def test_the_demo_token_endpoint_serves_only_the_demo_agents(
        api_url: str, admin_api: httpx.AsyncClient, seeded: object) -> None:
    await admin_api.put("/api/v1/agents/olga", json={"name": "Olga Real", "devices": ["PJSIP/301"]})
    async with httpx.AsyncClient(base_url=api_url) as anyone:  # no credential at all: that is the demo
        assert (await anyone.post("/demo/token/anna")).status_code == 200
        refused = await anyone.post("/demo/token/olga")
        assert refused.status_code == 403
        assert refused.json()["message"] == "the demo gives tokens only to its own agents (anna, boris, vera)"


async def test_without_the_demo_there_is_no_token_endpoint_and_with_the_override_it_starts_warning(
        service_env: dict[str, str], settings: object) -> None:
    off_port, on_port = free_port(), free_port()
    off = Process("demo-off-api", ["api"], {**service_env, "CALLERCARD_API_PORT": str(off_port)}).start()
    on = Process("demo-anywhere-api", ["api"], {**service_env, "CALLERCARD_API_PORT": str(on_port),
                                                "CALLERCARD_DEMO_ENABLED": "true", "CALLERCARD_API_HOST": "0.0.0.0",
                                                "CALLERCARD_DEMO_ALLOW_NON_LOOPBACK": "true"}).start()
    try:
        off.wait_until(http_answers(f"http://127.0.0.1:{off_port}/health/live"))
        on.wait_until(http_answers(f"http://127.0.0.1:{on_port}/health/live"))
        admin = {"Authorization": f"Bearer {service_env['CALLERCARD_ADMIN_API_KEY']}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{off_port}", headers=admin) as client:
            await put_demo_directory(client)
            assert (await client.post("/demo/token/anna")).status_code == 404
            assert (await client.get("/demo")).status_code == 404
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{on_port}") as client:
            assert (await client.post("/demo/token/anna")).status_code == 200
        assert ("the demo is on and the API listens on 0.0.0.0: anyone who reaches it can take the demo agents' "
                "tokens") in on.log_path.read_text()
    finally:
        off.stop()
        on.stop()

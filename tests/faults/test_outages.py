"""An outage of MongoDB, Redis or Centrifugo: every route answers a 503 that names the system (or works, or
degrades), never a bare 500; liveness stays up, readiness names what is down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from callercard.settings import Settings
from tests.faults.conftest import wait_http
from tests.integration.test_access import ROUTES, route_request
from tests.support.faults import PrivateRedis, TcpProxy, free_port, report
from tests.support.processes import Process

OUTAGE_ERRORS = {"unavailable", "store-unavailable", "pbx-unavailable"}


async def seed(client: httpx.AsyncClient) -> None:
    assert (await client.put("/api/v1/customers/C-1", json={"holder": "Ivan Petrov", "phones": [
        {"number": "84951234567"}]})).status_code == 201
    assert (await client.put("/api/v1/agents/anna", json={"name": "Anna Smirnova", "devices": ["PJSIP/201"],
                                                          "lines": ["support"]})).status_code == 201


@pytest.mark.parametrize("dependency", ["mongo", "redis", "centrifugo"])
async def test_an_outage_is_a_503_naming_the_system_on_every_route_never_a_500(
        dependency: str, settings: Settings, broker: PrivateRedis, start: Callable[..., Process]) -> None:
    proxies = {name: await TcpProxy.for_url(url).start()
               for name, url in (("mongo", settings.mongo_url), ("centrifugo", str(settings.centrifugo_api_url)))}
    port = free_port()
    start("api", api_port=port, mongo_url=proxies["mongo"].url(settings.mongo_url), mongo_timeout_ms=400,
          centrifugo_api_url=proxies["centrifugo"].url(str(settings.centrifugo_api_url)))
    api_url = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    answers: dict[str, tuple[int, dict[str, Any]]] = {}
    try:
        await wait_http(f"{api_url}/health/live")
        async with httpx.AsyncClient(base_url=api_url, headers=admin, timeout=15) as client:
            await seed(client)
            assert (await client.get("/health/ready")).status_code == 200
            if dependency == "redis":
                broker.stop()
            else:
                await proxies[dependency].cut()
            for method, template, request, _ in ROUTES:
                url, kwargs = route_request(template, request)
                response = await client.request(method, url, **kwargs)
                is_json = response.headers.get("content-type", "").startswith("application/json")
                answers[f"{method} {template}"] = (response.status_code, response.json() if is_json else {})
    finally:
        for proxy in proxies.values():
            await proxy.stop()
    health = {"GET /status", "GET /health/ready"}  # their 503 is a health report, checked below
    server_errors = {route: answer for route, answer in answers.items() if answer[0] >= 500 and route not in health}
    unexplained = {route: answer for route, answer in server_errors.items()
                   if answer[0] != 503 or answer[1].get("error_id") not in OUTAGE_ERRORS
                   or not answer[1].get("message") or not answer[1].get("details", {}).get("dependency")}
    report(f"outage_{dependency}", routes=len(answers), answered_503=len(server_errors),
           by_dependency=sorted({a[1]["details"]["dependency"] for a in server_errors.values()
                                 if a[1].get("details", {}).get("dependency")}))
    assert unexplained == {}, unexplained
    named = {"redis": "broker"}.get(dependency, dependency)
    status, ready = answers["GET /health/ready"]
    assert (status, ready["dependencies"][named]["ok"]) == (503, False), ready
    assert answers["GET /health/live"][0] == 200
    if dependency == "mongo":
        store_routes = ["GET /api/v1/customers/{account_id}", "PUT /api/v1/customers/{account_id}",
                        "GET /api/v1/agents", "GET /api/v1/calls", "GET /api/v1/dnc", "GET /api/v1/callbacks"]
        assert {route: answers[route][1].get("details", {}).get("dependency") for route in store_routes} == \
            dict.fromkeys(store_routes, "mongo")
        assert answers["GET /api/v1/lookup"][0] == 200 and answers["GET /api/v1/lookup"][1]["degraded"] is True
    if dependency == "centrifugo":  # the agent is disabled in the store; the 503 says their page stays connected
        disabled = answers["DELETE /api/v1/agents/{agent_id}"]
        assert (disabled[0], disabled[1]["details"]["dependency"]) == (503, "centrifugo"), disabled
        assert "can no longer use the API" in disabled[1]["message"]

"""Liveness, readiness and the whole system's status, as a load balancer, docker-compose and a person read them."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.faults import free_port
from tests.support.processes import Process


async def test_the_lookup_api_is_ready_while_the_listeners_ami_link_is_down(
        service_env: dict[str, str], api_url: str, api_process: Process, pbx_api: httpx.AsyncClient,
        seeded: dict[str, str]) -> None:
    # A real listener whose PBX's manager interface is down (nothing listens on its AMI port): it reports so.
    listener = Process("listener-ami-down", ["listener"], {**service_env, "CALLERCARD_AMI_PORT": str(free_port())})
    listener.start()
    try:
        async with httpx.AsyncClient(base_url=api_url) as anyone:
            async with asyncio.timeout(20):
                while (whole := await anyone.get("/status")).json()["dependencies"]["ami"]["ok"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)  # an earlier test's listener may still be on record for a while
            ready = await anyone.get("/health/ready")
            live = await anyone.get("/health/live")
    finally:
        listener.stop()
    assert whole.status_code == 503
    assert {name: check["ok"] for name, check in whole.json()["dependencies"].items() if name != "indexes"} == \
        {"mongo": True, "broker": True, "centrifugo": True, "ami": False}  # indexes: advisory, never a 503
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"ok": True, "dependencies": {name: check for name, check in
                                                          whole.json()["dependencies"].items() if name != "ami"}}
    assert (live.status_code, live.text) == (200, "ok")
    number, holder = next(iter(seeded.items()))
    card = await pbx_api.get("/api/v1/lookup", params={"number": number})  # and the PBX's lookups answer
    assert (card.status_code, card.json()["display_name"], card.json()["degraded"]) == (200, holder, False)

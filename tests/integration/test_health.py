"""Liveness, readiness and the whole system's status, as a load balancer, docker-compose and a person read them."""

from __future__ import annotations

import httpx

from tests.support.processes import Process


async def test_the_lookup_api_is_ready_while_the_listeners_ami_link_is_down(
        api_url: str, api_process: Process, pbx_api: httpx.AsyncClient, seeded: dict[str, str]) -> None:
    # No listener runs in this suite: nobody reports an AMI login, as when the PBX's manager interface is down.
    async with httpx.AsyncClient(base_url=api_url) as anyone:
        whole = await anyone.get("/status")
        ready = await anyone.get("/health/ready")
        live = await anyone.get("/health/live")
    assert whole.status_code == 503
    assert {name: check["ok"] for name, check in whole.json()["dependencies"].items()} == \
        {"mongo": True, "broker": True, "centrifugo": True, "ami": False}
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"ok": True, "dependencies": {name: check for name, check in
                                                          whole.json()["dependencies"].items() if name != "ami"}}
    assert (live.status_code, live.text) == (200, "ok")
    number, holder = next(iter(seeded.items()))
    card = await pbx_api.get("/api/v1/lookup", params={"number": number})  # and the PBX's lookups answer
    assert (card.status_code, card.json()["display_name"], card.json()["degraded"]) == (200, holder, False)

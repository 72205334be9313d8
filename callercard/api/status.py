"""``GET /status``: each dependency's health; 200 only when every required one is ok. ``GET /ping``: liveness.

The lookup sources are reported beside the dependencies and never make the status 503: without a source the
lookup still answers (from the card cache and the other sources, the card saying ``degraded``). Nor do the store's
indexes (``indexes`` among the dependencies): without them the store answers some queries slower, that is all.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from callercard import centrifugo, mongo, redis_state
from callercard.api.deps import ServicesDep

router = APIRouter(tags=["status"])


@router.get("/status", summary="Health of every dependency")
async def status(services: ServicesDep) -> JSONResponse:
    checks, sources = await asyncio.gather(asyncio.gather(
        mongo.health(services.db),
        redis_state.health(services.redis),
        centrifugo.health(services.centrifugo),
        redis_state.listener_health(services.redis),
    ), services.lookup.sources_health())
    advisory = [services.indexes.health()]
    body = {check.name: check.as_dict() for check in (*checks, *advisory)}
    healthy = all(check.ok for check in checks)
    return JSONResponse({"ok": healthy, "dependencies": body,
                         "sources": {check.name.removeprefix("source:"): check.as_dict() for check in sources}},
                        status_code=200 if healthy else 503)


@router.get("/ping", summary="Liveness: the process answers HTTP", response_class=PlainTextResponse)
async def ping() -> PlainTextResponse:
    """No dependency is asked: the cheapest route, and the floor the lookup benchmark compares with."""
    return PlainTextResponse("pong")

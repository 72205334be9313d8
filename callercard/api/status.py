"""Health: ``/health/live`` (the process answers), ``/health/ready`` (this API process can serve: its own
dependencies answer), ``/status`` (the whole system, the listener's AMI link included). ``/ping``: the floor the
lookup benchmark compares with.

Readiness leaves the listener's AMI link out on purpose: the PBX's lookups never need it, and an API reported
unready while the PBX's manager interface is down would be taken out of the PBX's way for nothing.
The lookup sources are reported beside the dependencies in ``/status`` and never make it 503: without a source
the lookup still answers (from the card cache and the other sources, the card saying ``degraded``). Nor do the
store's indexes (``indexes`` among the dependencies, in both reports): without them the store answers some
queries slower, that is all.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from callercard import centrifugo, mongo, redis_state
from callercard.api.deps import ServicesDep
from callercard.health import Health
from callercard.pbxs import known_pbxs

router = APIRouter(tags=["status"])


def _report(checks: list[Health], *, advisory: list[Health], **extra: object) -> JSONResponse:
    healthy = all(check.ok for check in checks)
    body = {"ok": healthy, "dependencies": {check.name: check.as_dict() for check in (*checks, *advisory)}, **extra}
    return JSONResponse(body, status_code=200 if healthy else 503)


async def _own_dependencies(services: ServicesDep) -> list[Health]:
    return list(await asyncio.gather(mongo.health(services.db), redis_state.health(services.redis),
                                     centrifugo.health(services.centrifugo)))


@router.get("/status", summary="Health of every part of callercard, the listener's AMI link included")
async def status(services: ServicesDep) -> JSONResponse:
    """200 only when all are ok, else 503: for people and monitoring, not for taking the API out of service."""
    own, (ami, pbxs), sources = await asyncio.gather(
        _own_dependencies(services), redis_state.listener_health(services.redis, pbxs=known_pbxs(services.settings)),
        services.lookup.sources_health())
    # ``pbxs``: per PBX its AMI link, the active listener and the standbys.
    return _report([*own, ami], advisory=[services.indexes.health()],
                   sources={check.name.removeprefix("source:"): check.as_dict() for check in sources}, pbxs=pbxs)


@router.get("/health/ready", summary="Readiness: this API process's own dependencies answer")
async def ready(services: ServicesDep) -> JSONResponse:
    """MongoDB, Redis and Centrifugo; 503 naming the one that does not. Not the listener's AMI link."""
    return _report(await _own_dependencies(services), advisory=[services.indexes.health()])


@router.get("/health/live", summary="Liveness: the process serves HTTP", response_class=PlainTextResponse)
async def live() -> PlainTextResponse:
    """No dependency is asked: restart the process only when this fails."""
    return PlainTextResponse("ok")


@router.get("/ping", summary="Liveness: the process answers HTTP", response_class=PlainTextResponse)
async def ping() -> PlainTextResponse:
    """No dependency is asked: the cheapest route, and the floor the lookup benchmark compares with."""
    return PlainTextResponse("pong")

"""The call log API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from callercard.api.deps import AdminOnly, ServicesDep
from callercard.calls import store
from callercard.calls.state import Outcome
from callercard.errors import NotFound
from callercard.lookup.http import parse_number

router = APIRouter(prefix="/api/v1/calls", tags=["calls"])


@router.get("", summary="Calls, newest first, with filters")
async def list_calls(
    services: ServicesDep,
    _role: AdminOnly,
    outcome: Outcome | None = None,
    number: Annotated[str | None, Query(max_length=64, description="any format; matched on E.164")] = None,
    agent: Annotated[str | None, Query(max_length=64, description="an agent rung for the call")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[dict[str, Any]]:
    e164 = parse_number(number, services).e164 if number else None
    return await store.find(services.db, outcome=outcome.value if outcome else None, e164=e164, agent_id=agent,
                            since=since, until=until, limit=limit, skip=skip)


@router.get("/{call_id}", summary="One call's log record")
async def get_call(services: ServicesDep, _role: AdminOnly,
                   call_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    record = await store.get(services.db, call_id)
    if record is None:
        raise NotFound(f"call {call_id!r} is not in the log", call_id=call_id)
    return record

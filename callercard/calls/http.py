"""The call log API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime

from callercard.api.auth import AgentOrAdmin, Role
from callercard.api.deps import ServicesDep
from callercard.api.params import parse_number
from callercard.calls import store
from callercard.calls.state import Outcome
from callercard.errors import NotFound

router = APIRouter(prefix="/api/v1/calls", tags=["calls"])


@router.get("", summary="Calls, newest first, with filters")
async def list_calls(
    services: ServicesDep,
    caller: AgentOrAdmin,
    outcome: Outcome | None = None,
    number: Annotated[str | None, Query(max_length=64, description="any format; matched on E.164")] = None,
    agent: Annotated[str | None, Query(max_length=64, description="an agent rung for the call")] = None,
    since: Annotated[AwareDatetime | None, Query(description="with its zone, e.g. 2026-11-22T00:00:00Z")] = None,
    until: Annotated[AwareDatetime | None, Query(description="with its zone; exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[dict[str, Any]]:
    """Admins see every call; an agent sees the calls that rang them."""
    e164 = parse_number(number, services).e164 if number else None
    if caller.role is Role.AGENT:
        agent = caller.agent_id
    return await store.find(services.db, outcome=outcome.value if outcome else None, e164=e164, agent_id=agent,
                            since=since, until=until, limit=limit, skip=skip)


@router.get("/{call_id}", summary="One call's log record")
async def get_call(services: ServicesDep, caller: AgentOrAdmin,
                   call_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    record = await store.get(services.db, call_id)
    rang_this_agent = record is not None and any(a["agent_id"] == caller.agent_id for a in record["agents"])
    if record is None or (caller.role is Role.AGENT and not rang_this_agent):
        raise NotFound(f"call {call_id!r} is not in the log", call_id=call_id)
    return record

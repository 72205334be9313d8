"""The agent's desk: what is on the agent's screen now, and the red button (decline a ringing call)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from redis.exceptions import RedisError

from callercard.api.auth import AgentOrAdmin, ensure_own_agent
from callercard.api.deps import ServicesDep
from callercard.api.params import AgentIdPath, CallIdPath
from callercard.calls.redis_screens import OnScreen
from callercard.errors import Conflict, StoreUnavailable

router = APIRouter(prefix="/api/v1/agents/{agent_id}", tags=["agent desk"])


async def _on_screen(services: ServicesDep, agent_id: str, call_id: str | None = None) -> list[OnScreen]:
    try:
        if call_id is None:
            return await services.screens.current(agent_id)
        shown = await services.screens.get(agent_id, call_id)
    except (RedisError, OSError) as error:
        raise StoreUnavailable("the agent's screen state is unavailable right now (Redis); retry shortly",
                               dependency="redis") from error
    return [shown] if shown else []


@router.get("/screen", summary="The popups and calls on this agent's screen now (for a reloaded page)")
async def screen(services: ServicesDep, caller: AgentOrAdmin, agent_id: AgentIdPath) -> list[dict[str, Any]]:
    """The last card event of each open call, exactly as it was published to ``agent:#<agent_id>``."""
    ensure_own_agent(caller, agent_id)
    return [shown.payload for shown in await _on_screen(services, agent_id)]


@router.post("/calls/{call_id}/decline", status_code=status.HTTP_202_ACCEPTED,
             summary="Stop ringing this agent: hang up this agent's ringing leg only")
async def decline(services: ServicesDep, caller: AgentOrAdmin, agent_id: AgentIdPath,
                  call_id: CallIdPath) -> dict[str, str]:
    """Asterisk then ends the leg with cause 21 (call rejected); the queue goes on to the next agent."""
    ensure_own_agent(caller, agent_id)
    shown = await _on_screen(services, agent_id, call_id)
    if not shown or not shown[0].ringing:
        raise Conflict(f"call {call_id!r} is not ringing for agent {agent_id!r}", call_id=call_id)
    if not shown[0].channel:
        raise Conflict("this call came through the HTTP event API, which names no PBX channel; decline it on "
                       "the phone", call_id=call_id)
    await services.pbx_on(shown[0].pbx).hangup(channel=shown[0].channel)
    return {"call_id": call_id, "agent_id": agent_id, "status": "declining"}

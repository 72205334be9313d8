"""Lines and presence: each of an agent's lines with its live status, and switching between them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from callercard.agents import store as agents
from callercard.agents.schemas import Agent
from callercard.api.auth import AgentOrAdmin, ensure_own_agent
from callercard.api.deps import ServicesDep
from callercard.api.params import AgentIdPath
from callercard.errors import NotFound
from callercard.lines import redis_status, switching
from callercard.pbxs import DEFAULT_PBX

router = APIRouter(prefix="/api/v1/agents/{agent_id}", tags=["lines"])


class LineChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line: int | None = Field(description="1-based index into the agent's lines; null: off incoming calls")


async def _agent(services: ServicesDep, agent_id: str) -> Agent:
    agent = await agents.get(services.db, agent_id=agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id!r} does not exist", agent_id=agent_id)
    return agent


async def _status(services: ServicesDep, agent: Agent) -> dict[str, dict[str, Any] | None]:
    try:
        return await redis_status.load(services.redis, agent.lines,
                                       pbx=agent.phone.pbx if agent.phone else DEFAULT_PBX)
    except (RedisError, OSError):
        return dict.fromkeys(agent.lines)  # unknown: the switch then asks the PBX and reads its answers


def _lines_view(agent: Agent, status: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    interface = switching.membership_of(agent).interface if agent.devices else None
    view = []
    for number, queue in enumerate(agent.lines, start=1):
        line = status.get(queue)
        me = switching.member_in(line, interface) if interface else None
        view.append({"line": number, "queue": queue, "interface": interface, "known": line is not None,
                     "pbx": agent.phone.pbx if agent.phone else DEFAULT_PBX,
                     "free": line["free"] if line else None, "on_line": line["on_line"] if line else None,
                     "seq": line.get("seq") if line else None,
                     "me": {"member": me is not None, "paused": bool(me and me["paused"])}})
    return view


@router.get("/lines", summary="The agent's lines, each with free / on-line counts and the agent's own state")
async def get_lines(services: ServicesDep, caller: AgentOrAdmin, agent_id: AgentIdPath) -> list[dict[str, Any]]:
    ensure_own_agent(caller, agent_id)
    agent = await _agent(services, agent_id)
    return _lines_view(agent, await _status(services, agent))


@router.put("/line", summary="Take calls on one line, or none (off)")
async def put_line(services: ServicesDep, caller: AgentOrAdmin, agent_id: AgentIdPath,
                   choice: LineChoice) -> dict[str, Any]:
    """Sends QueueAdd / QueueRemove / QueuePause to the PBX; ``done`` says what happened, step by step."""
    ensure_own_agent(caller, agent_id)
    agent = await _agent(services, agent_id)
    done = await switching.switch(pbx=services.pbx_of(agent), agent=agent, line=choice.line,
                                 status=await _status(services, agent))
    return {"line": choice.line, "done": done}

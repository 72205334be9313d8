"""Admin API for the agent directory, and agents' Centrifugo connection tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from callercard.agents import services as agents
from callercard.agents import store
from callercard.agents.schemas import Agent, AgentIn, AgentToken
from callercard.api.auth import AdminOnly, AgentOrAdmin, ensure_own_agent
from callercard.api.deps import ServicesDep
from callercard.api.params import AgentIdPath
from callercard.errors import NotFound

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


@router.put("/{agent_id}", summary="Create or replace an agent", response_model=Agent)
async def put_agent(services: ServicesDep, _caller: AdminOnly, agent_id: AgentIdPath, body: AgentIn,
                    response: Response) -> Agent:
    created = await store.put(services.db, agent_id=agent_id, agent=body)
    if not body.enabled:  # the API refuses the agent's credentials from now on; their open page goes too
        await agents.end_live_connections(cent=services.centrifugo, agent_id=agent_id, why="was disabled",
                                          settings=services.settings)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return Agent(id=agent_id, **body.model_dump())


@router.get("", summary="Every agent", response_model=list[Agent])
async def list_agents(services: ServicesDep, _caller: AdminOnly) -> list[Agent]:
    return await store.all_agents(services.db)


@router.get("/{agent_id}", summary="One agent", response_model=Agent)
async def get_agent(services: ServicesDep, _caller: AdminOnly, agent_id: AgentIdPath) -> Agent:
    agent = await store.get(services.db, agent_id=agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id!r} does not exist", agent_id=agent_id)
    return agent


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an agent")
async def delete_agent(services: ServicesDep, _caller: AdminOnly, agent_id: AgentIdPath) -> Response:
    if not await store.delete(services.db, agent_id=agent_id):
        raise NotFound(f"agent {agent_id!r} does not exist", agent_id=agent_id)
    await agents.end_live_connections(cent=services.centrifugo, agent_id=agent_id, why="was removed",
                                      settings=services.settings)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{agent_id}/token", summary="A short-lived Centrifugo connection token for one agent",
             response_model=AgentToken)
async def agent_token(services: ServicesDep, caller: AgentOrAdmin, agent_id: AgentIdPath) -> AgentToken:
    """An agent's credential gets only that agent's tokens: ``token`` lets Centrifugo read only
    ``agent:#<agent_id>``, ``api_token`` acts as that agent on the API."""
    ensure_own_agent(caller, agent_id)
    return await agents.issue_token(db=services.db, settings=services.settings, agent_id=agent_id)

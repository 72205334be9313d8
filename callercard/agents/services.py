"""Agents' tokens, and ending an agent's access: what lets a helpdesk page read one agent's card events and act
for that agent, and what takes it away."""

from __future__ import annotations

import logging

from cent import AsyncClient as CentClient
from cent.exceptions import CentError

from callercard import centrifugo
from callercard.agents import store
from callercard.agents.schemas import Agent, AgentToken
from callercard.errors import Conflict, NotFound, Unavailable
from callercard.mongo import Database
from callercard.settings import Settings

log = logging.getLogger(__name__)


async def issue_token(*, db: Database, settings: Settings, agent_id: str) -> AgentToken:
    """Fresh tokens for an enabled agent in the directory (``NotFound`` / ``Conflict`` otherwise); the caller is
    checked by the route."""
    agent = await store.get(db, agent_id=agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id!r} does not exist", agent_id=agent_id)
    if not agent.enabled:
        raise Conflict(f"agent {agent_id!r} is disabled", agent_id=agent_id)
    token = centrifugo.connection_token(settings=settings, agent_id=agent_id)
    return AgentToken(token=token.token, api_token=token.api_token, channel=token.channel,
                      callbacks_channel=centrifugo.callbacks_channel(agent_id),
                      websocket_url=token.websocket_url, expires_at=token.expires_at)


async def agent_may_act(*, db: Database, agent_id: str) -> Agent | None:
    """The agent, when it exists and is enabled: what every agent credential is checked against, per request."""
    agent = await store.get(db, agent_id=agent_id)
    return agent if agent is not None and agent.enabled else None


async def end_live_connections(*, cent: CentClient, agent_id: str, why: str, settings: Settings) -> None:
    """Disconnect the agent's helpdesk pages from Centrifugo for good (the API already refuses their tokens).

    Idempotent; ``Unavailable`` when Centrifugo did not answer (the store change stands: repeat the request).
    """
    try:
        await centrifugo.disconnect_agent(cent, agent_id=agent_id, reason=why)
    except CentError as error:
        log.error("agent %s %s, but Centrifugo did not take the disconnect: %s", agent_id, why, error)
        raise Unavailable(
            f"agent {agent_id!r} {why} and can no longer use the API, but Centrifugo did not answer, so a page "
            f"already open stays connected until its token expires (at most "
            f"{settings.centrifugo_token_ttl_seconds} s); repeat the request to disconnect it now",
            dependency="centrifugo", agent_id=agent_id) from error

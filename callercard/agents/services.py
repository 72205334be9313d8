"""Agents' Centrifugo connection tokens: what lets a helpdesk page read one agent's card events."""

from __future__ import annotations

from callercard import centrifugo
from callercard.agents import store
from callercard.agents.schemas import AgentToken
from callercard.errors import NotFound
from callercard.mongo import Database
from callercard.settings import Settings


async def issue_token(*, db: Database, settings: Settings, agent_id: str) -> AgentToken:
    """A fresh connection token for an agent in the directory (``NotFound`` otherwise); the caller is checked."""
    if await store.get(db, agent_id=agent_id) is None:
        raise NotFound(f"agent {agent_id!r} does not exist", agent_id=agent_id)
    token = centrifugo.connection_token(settings=settings, agent_id=agent_id)
    return AgentToken(token=token.token, channel=token.channel, websocket_url=token.websocket_url,
                      expires_at=token.expires_at)

"""Who is calling the API, and what their role may do: the ``Caller`` dependencies every router declares."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pymongo.errors import PyMongoError

from callercard import centrifugo
from callercard.api.deps import ServicesDep
from callercard.errors import Forbidden, StoreUnavailable, Unauthenticated
from callercard.keys import store as keys_store


class Role(StrEnum):
    PBX = "pbx"
    AGENT = "agent"
    ADMIN = "admin"
    CRM = "crm"  # a CRM telling callercard which numbers' data changed


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling the API: a role, a name for the audit trail, and for agents their id."""

    role: Role
    name: str
    agent_id: str | None = None


_bearer = HTTPBearer(auto_error=False, description="an API key (PBX, agent, admin or CRM)")


async def current_caller(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    api_key: Annotated[str | None, Query(description="API key, for Asterisk's CURL()", max_length=256)] = None,
) -> Caller:
    """From a bearer token or the ``api_key`` query parameter: the settings' bootstrap keys, or a stored key."""
    presented = credentials.credentials if credentials else api_key
    if not presented:
        raise Unauthenticated("missing credential: send 'Authorization: Bearer <key>' or '?api_key=<key>'")
    settings = services.settings
    # The bootstrap keys are checked without a database round trip: the PBX's lookups never wait on MongoDB here.
    for role, secret in ((Role.ADMIN, settings.admin_api_key), (Role.PBX, settings.pbx_api_key)):
        if hmac.compare_digest(presented.encode(), secret.get_secret_value().encode()):
            return Caller(role=role, name=role.value)
    if presented.count(".") == 2 and presented.startswith("eyJ"):
        # The widget's credential: the agent's own short-lived connection token, acting for that agent only.
        try:
            agent_id = centrifugo.agent_of_connection_token(settings=settings, token=presented)
        except centrifugo.InvalidConnectionToken as error:
            raise Unauthenticated(str(error)) from error
        return Caller(role=Role.AGENT, name=f"agent:{agent_id}", agent_id=agent_id)
    if not presented.startswith(keys_store.KEY_PREFIX):
        raise Unauthenticated("invalid credential")
    try:
        stored = await asyncio.wait_for(keys_store.find_active(services.db, presented),
                                        settings.lookup_budget_seconds)
    except (TimeoutError, PyMongoError) as error:
        raise StoreUnavailable("cannot verify the credential right now; retry shortly") from error
    if stored is None:
        raise Unauthenticated("invalid or revoked credential")
    return Caller(role=Role(stored["role"]), name=stored["name"], agent_id=stored.get("agent_id"))


def require(*allowed: Role) -> Callable[[Caller], Awaitable[Caller]]:
    async def check(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        if caller.role not in allowed:
            raise Forbidden(f"this endpoint is for {', '.join(r.value for r in allowed)}; you are {caller.role.value}")
        return caller

    return check


PbxOrAdmin = Annotated[Caller, Depends(require(Role.PBX, Role.ADMIN))]
AdminOnly = Annotated[Caller, Depends(require(Role.ADMIN))]
AgentOrAdmin = Annotated[Caller, Depends(require(Role.AGENT, Role.ADMIN))]
AnyCaller = Annotated[Caller, Depends(require(Role.PBX, Role.AGENT, Role.ADMIN))]
CrmOrAdmin = Annotated[Caller, Depends(require(Role.CRM, Role.ADMIN))]


def ensure_own_agent(caller: Caller, agent_id: str) -> None:
    """Agents act only for themselves; admins for anyone."""
    if caller.role is Role.AGENT and caller.agent_id != agent_id:
        raise Forbidden(f"agent {caller.agent_id!r} cannot act for agent {agent_id!r}")

"""Who is calling the API, and what their role may do: the ``Caller`` dependencies every router declares.

Credentials go in the ``Authorization: Bearer`` header. Only the PBX's routes (the lookups, the do-not-call check
and call events: Asterisk's ``CURL()`` cannot easily set a header) also take ``?api_key=``, and only the PBX's key
there: a URL ends up in access logs and proxies, so an admin's or an agent's key in one is refused (401).
The settings' keys are checked in memory, so the PBX's lookups never wait on MongoDB for authentication; an
agent's credential (its API token or a stored agent key) is checked against the agent directory on every request,
so disabling or removing the agent ends it at once.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pymongo.errors import PyMongoError

from callercard import centrifugo
from callercard.agents import services as agents
from callercard.api.deps import Services, ServicesDep
from callercard.errors import Forbidden, StoreUnavailable, Unauthenticated
from callercard.keys import store as keys_store


class Role(StrEnum):
    PBX = "pbx"
    AGENT = "agent"
    SUPERVISOR = "supervisor"  # watches the lines: the wallboard
    ADMIN = "admin"
    CRM = "crm"  # a CRM telling callercard which numbers' data changed


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling the API: a role, a name for the audit trail, and for agents their id."""

    role: Role
    name: str
    agent_id: str | None = None


_bearer = HTTPBearer(auto_error=False, description="an API key (PBX, agent, admin or CRM), or an agent's api_token")
QUERY_KEY = "api_key"
_MISSING = "missing credential: send 'Authorization: Bearer <key>'"


async def _checked(services: Services, lookup: Awaitable[object]) -> object:
    """A store read for authentication, within the lookup budget; an outage is a 503, never a 401."""
    try:
        return await asyncio.wait_for(lookup, services.settings.lookup_budget_seconds)
    except (TimeoutError, PyMongoError) as error:
        raise StoreUnavailable("cannot verify the credential right now; retry shortly") from error


async def _agent(services: Services, agent_id: str, name: str) -> Caller:
    if await _checked(services, agents.agent_may_act(db=services.db, agent_id=agent_id)) is None:
        raise Unauthenticated(f"agent {agent_id!r} is disabled or no longer exists")
    return Caller(role=Role.AGENT, name=name, agent_id=agent_id)


async def _resolve(services: Services, presented: str) -> Caller:
    settings = services.settings
    # The bootstrap keys are checked without a database round trip: the PBX's lookups never wait on MongoDB here.
    for role, secret in ((Role.ADMIN, settings.admin_api_key), (Role.PBX, settings.pbx_api_key)):
        if hmac.compare_digest(presented.encode(), secret.get_secret_value().encode()):
            return Caller(role=role, name=role.value)
    if presented.count(".") == 2 and presented.startswith("eyJ"):
        # The widget's credential: the agent's own short-lived API token, acting for that agent only.
        try:
            agent_id = centrifugo.agent_of_api_token(settings=settings, token=presented)
        except centrifugo.InvalidConnectionToken as error:
            raise Unauthenticated(str(error)) from error
        return await _agent(services, agent_id, f"agent:{agent_id}")
    if not presented.startswith(keys_store.KEY_PREFIX):
        raise Unauthenticated("invalid credential")
    stored = await _checked(services, keys_store.find_active(services.db, presented))
    if not isinstance(stored, dict):
        raise Unauthenticated("invalid or revoked credential")
    if stored["role"] == Role.AGENT:
        return await _agent(services, str(stored["agent_id"]), str(stored["name"]))
    return Caller(role=Role(stored["role"]), name=stored["name"], agent_id=stored.get("agent_id"))


async def header_caller(
    services: ServicesDep, request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> Caller:
    """From the bearer token only: the settings' keys, an agent's API token, or a stored key."""
    if credentials:
        return await _resolve(services, credentials.credentials)
    if QUERY_KEY in request.query_params:
        raise Unauthenticated("'?api_key=' is accepted only on the PBX's routes (lookup, lookup/name, dnc/check, "
                              "pbx/events); send 'Authorization: Bearer <key>'")
    raise Unauthenticated(_MISSING)


async def pbx_route_caller(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    api_key: Annotated[str | None, Query(description="the PBX's key, for Asterisk's CURL() (the PBX only: admins "
                                                     "and agents send the header)", max_length=256)] = None,
) -> Caller:
    """As ``header_caller``, and the PBX's key as ``?api_key=`` too."""
    if credentials:
        return await _resolve(services, credentials.credentials)
    if not api_key:
        raise Unauthenticated(f"{_MISSING} (the PBX may send '?api_key=<key>')")
    caller = await _resolve(services, api_key)
    if caller.role is not Role.PBX:
        raise Unauthenticated(f"'?api_key=' is only for the PBX's key: {caller.role.value}s send "
                              "'Authorization: Bearer <key>' (a key in a URL ends up in logs)")
    return caller


HeaderCaller = Annotated[Caller, Depends(header_caller)]
PbxRouteCaller = Annotated[Caller, Depends(pbx_route_caller)]


def require(*allowed: Role) -> Callable[[Caller], Awaitable[Caller]]:
    """The caller, when its role is allowed (403 otherwise). A route the PBX may call takes ``?api_key=`` too."""

    def permitted(caller: Caller) -> Caller:
        if caller.role not in allowed:
            raise Forbidden(f"this endpoint is for {', '.join(r.value for r in allowed)}; you are {caller.role.value}")
        return caller

    async def on_pbx_route(caller: PbxRouteCaller) -> Caller:
        return permitted(caller)

    async def on_header_route(caller: HeaderCaller) -> Caller:
        return permitted(caller)

    return on_pbx_route if Role.PBX in allowed else on_header_route


PbxOrAdmin = Annotated[Caller, Depends(require(Role.PBX, Role.ADMIN))]
AdminOnly = Annotated[Caller, Depends(require(Role.ADMIN))]
AgentOrAdmin = Annotated[Caller, Depends(require(Role.AGENT, Role.ADMIN))]
AnyCaller = Annotated[Caller, Depends(require(Role.PBX, Role.AGENT, Role.ADMIN))]
CrmOrAdmin = Annotated[Caller, Depends(require(Role.CRM, Role.ADMIN))]
SupervisorOrAdmin = Annotated[Caller, Depends(require(Role.SUPERVISOR, Role.ADMIN))]


def ensure_own_agent(caller: Caller, agent_id: str) -> None:
    """Agents act only for themselves; admins for anyone."""
    if caller.role is Role.AGENT and caller.agent_id != agent_id:
        raise Forbidden(f"agent {caller.agent_id!r} cannot act for agent {agent_id!r}")

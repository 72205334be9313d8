"""Typed dependencies: the process's collaborators and the caller's role."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import redis.asyncio as aioredis
from cent import AsyncClient as CentClient
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pymongo.asynchronous.database import AsyncDatabase

from callercard.calls.pbx_events import HttpCallFlow
from callercard.calls.service import CallFlowService
from callercard.errors import Forbidden, Unauthenticated
from callercard.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: AsyncDatabase
    redis: aioredis.Redis
    centrifugo: CentClient
    pbx_calls: HttpCallFlow
    call_service: CallFlowService


class Role(StrEnum):
    PBX = "pbx"
    AGENT = "agent"
    ADMIN = "admin"


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
_bearer = HTTPBearer(auto_error=False, description="PBX or admin API key")


def caller_role(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    api_key: Annotated[str | None, Query(description="API key, for Asterisk's CURL()", max_length=256)] = None,
) -> Role:
    """Who is calling, from a bearer token or the ``api_key`` query parameter."""
    presented = credentials.credentials if credentials else api_key
    if not presented:
        raise Unauthenticated("missing credential: send 'Authorization: Bearer <key>' or '?api_key=<key>'")
    settings = services.settings
    for role, secret in ((Role.ADMIN, settings.admin_api_key), (Role.PBX, settings.pbx_api_key)):
        if hmac.compare_digest(presented.encode(), secret.get_secret_value().encode()):
            return role
    raise Unauthenticated("invalid credential")


def require(*allowed: Role):  # type: ignore[no-untyped-def]
    def check(role: Annotated[Role, Depends(caller_role)]) -> Role:
        if role not in allowed:
            raise Forbidden(f"this endpoint is for {', '.join(r.value for r in allowed)}; you are {role.value}")
        return role

    return check


PbxOrAdmin = Annotated[Role, Depends(require(Role.PBX, Role.ADMIN))]
AdminOnly = Annotated[Role, Depends(require(Role.ADMIN))]

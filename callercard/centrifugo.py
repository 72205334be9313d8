"""Centrifugo: channel names, agents' connection tokens, the server API client and its health.

Card events reach an agent only through ``agent:#<agent_id>``, a user-limited
channel: Centrifugo lets a connection subscribe to it only when the token's
``sub`` is that agent id.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from cent import AsyncClient, BroadcastRequest, Disconnect, DisconnectRequest, InfoRequest, PublishRequest
from cent.dto import CentRequest, CentResult, Response
from cent.exceptions import CentApiResponseError, CentDecodeError, CentError

from callercard.agents import schemas as agents
from callercard.health import Health
from callercard.settings import Settings

AGENT_ID_PATTERN = re.compile(agents.AGENT_ID_PATTERN)
QUEUES_CHANNEL = "queues:status"
# The wallboard's queues: only connections whose token lists it get it (a server-side subscription); no client may
# subscribe to the `wallboard` namespace itself.
WALLBOARD_CHANNEL = "wallboard:queues"


class InvalidAgentId(ValueError):
    pass


def agent_channel(agent_id: str) -> str:
    if not AGENT_ID_PATTERN.match(agent_id):
        raise InvalidAgentId(f"agent id {agent_id!r} must match {AGENT_ID_PATTERN.pattern}")
    return f"agent:#{agent_id}"


# Each token says whom it is for (``aud``): Centrifugo checks its own (``client.token.audience`` in
# deploy/centrifugo/config.json), the API its own, so neither token works in the other place.
CONNECTION_AUDIENCE = "centrifugo"
API_AUDIENCE = "callercard-api"
# Centrifugo disconnect codes 4500-4999 are the application's terminal ones: clients do not reconnect.
ACCESS_ENDED_CODE = 4501


def callbacks_channel(agent_id: str) -> str:
    """The agent's callback worklist rows, as that agent may see them: user-limited like ``agent:#<id>``."""
    if not AGENT_ID_PATTERN.match(agent_id):
        raise InvalidAgentId(f"agent id {agent_id!r} must match {AGENT_ID_PATTERN.pattern}")
    return f"callbacks:#{agent_id}"


@dataclass(frozen=True, slots=True)
class ConnectionToken:
    token: str  # for Centrifugo's connection
    api_token: str  # for the API, as that agent
    channel: str
    websocket_url: str
    expires_at: int


def connection_token(*, settings: Settings, agent_id: str, now: float | None = None) -> ConnectionToken:
    """Two short-lived HS256 JWTs for one agent: one to connect and read only their own channel, one for the API."""
    channel = agent_channel(agent_id)
    issued = int(now if now is not None else time.time())
    expires_at = issued + settings.centrifugo_token_ttl_seconds
    secret = settings.centrifugo_token_secret.get_secret_value()
    claims = {"sub": agent_id, "iat": issued, "exp": expires_at}
    token = jwt.encode({**claims, "aud": CONNECTION_AUDIENCE}, secret, algorithm="HS256")
    api_token = jwt.encode({**claims, "aud": API_AUDIENCE}, secret, algorithm="HS256")
    return ConnectionToken(token, api_token, channel, settings.centrifugo_websocket_url, expires_at)


@dataclass(frozen=True, slots=True)
class ScreenToken:
    token: str  # for Centrifugo's connection only: a screen has no API credential
    channel: str
    websocket_url: str
    expires_at: int


def wallboard_token(*, settings: Settings, viewer: str, now: float | None = None) -> ScreenToken:
    """A short-lived token for a wallboard screen: subscribed by Centrifugo itself to ``WALLBOARD_CHANNEL`` and
    nothing else (its ``sub`` is no agent id, so no agent's channel either)."""
    issued = int(now if now is not None else time.time())
    expires_at = issued + settings.centrifugo_token_ttl_seconds
    # aud: a connection token for Centrifugo only (where Centrifugo checks client.token.audience, this passes it;
    # the API never takes it as a credential).
    token = jwt.encode({"sub": f"wallboard:{viewer}"[:128], "iat": issued, "exp": expires_at,
                        "channels": [WALLBOARD_CHANNEL], "aud": CONNECTION_AUDIENCE},
                       settings.centrifugo_token_secret.get_secret_value(), algorithm="HS256")
    return ScreenToken(token, WALLBOARD_CHANNEL, settings.centrifugo_websocket_url, expires_at)


class InvalidConnectionToken(ValueError):
    pass


def agent_of_api_token(*, settings: Settings, token: str) -> str:
    """The agent id an unexpired API token (audience ``callercard-api``) was issued for; whether that agent may
    still act is the caller's to check. A Centrifugo connection token is refused here."""
    try:
        claims = jwt.decode(token, settings.centrifugo_token_secret.get_secret_value(), algorithms=["HS256"],
                            audience=API_AUDIENCE, options={"require": ["sub", "exp", "aud"]})
    except jwt.ExpiredSignatureError as error:
        raise InvalidConnectionToken("token expired; fetch a fresh one") from error
    except (jwt.InvalidAudienceError, jwt.MissingRequiredClaimError) as error:
        raise InvalidConnectionToken("not an API token: send the token response's api_token, not the "
                                     "Centrifugo connection token") from error
    except jwt.InvalidTokenError as error:
        raise InvalidConnectionToken("invalid token") from error
    agent_id = str(claims["sub"])
    if not AGENT_ID_PATTERN.match(agent_id):
        raise InvalidConnectionToken("invalid token")
    return agent_id


class NotSending(CentError):
    """The client's ``may_send`` said no at the last moment: nothing of the request was written."""


def connect(settings: Settings, *, may_send: Callable[[], bool] | None = None) -> AsyncClient:
    """A server API client; with ``may_send`` (a listener's lease, no I/O) asked again once the request has its
    connection, right before its first byte is written, so a process frozen between its own check and the write
    (SIGSTOP, a paused VM) sends nothing once it wakes without the lease (``NotSending``)."""
    session = aiohttp.ClientSession(connector=_LastMomentCheck(may_send)) if may_send else None
    return AsyncClient(
        str(settings.centrifugo_api_url),
        settings.centrifugo_api_key.get_secret_value(),
        timeout=settings.centrifugo_timeout_ms / 1000,
        session=session,
    )


class _LastMomentCheck(aiohttp.TCPConnector):
    # Asked when a request gets its connection (new or pooled), and again by every write to its socket: aiohttp
    # writes a request's bytes from a task of its own, so a process frozen after the first check would otherwise
    # send them on waking (seen in the frozen ex-leader test once the listener's saves got cheaper).
    def __init__(self, may_send: Callable[[], bool]) -> None:
        super().__init__()
        self._may_send = may_send

    async def connect(self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout) -> Connection:
        connection = await super().connect(req, traces, timeout)
        if not self._may_send():
            connection.close()
            raise NotSending("not sent: this process may no longer publish")
        protocol = connection.protocol
        if protocol is not None and protocol.transport is not None and \
                not isinstance(protocol.transport, _CheckedWrites):
            protocol.transport = _CheckedWrites(protocol.transport, self._may_send)  # type: ignore[assignment]
        return connection


class _CheckedWrites:
    """A socket transport whose writes ask ``may_send`` first (no I/O: a lease's clock); a refused write aborts
    the connection instead, so none of the request goes out."""

    def __init__(self, transport: asyncio.Transport, may_send: Callable[[], bool]) -> None:
        self._transport = transport
        self._may_send = may_send

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._check()
        self._transport.write(data)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        self._check()
        self._transport.writelines(chunks)

    def _check(self) -> None:
        if not self._may_send():
            self._transport.abort()
            raise NotSending("not sent: this process may no longer publish")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


async def publish(client: AsyncClient, *, channel: str, data: dict[str, object],
                  idempotency_key: str | None = None) -> None:
    """Publish once; raises ``CentError`` subclasses for the caller to translate."""
    await client.publish(PublishRequest(channel=channel, data=data, idempotency_key=idempotency_key))


@dataclass(frozen=True, slots=True)
class Publication:
    channel: str
    data: dict[str, object]
    idempotency_key: str | None = None


async def publish_many(client: AsyncClient, publications: list[Publication]) -> list[CentError | None]:
    """Publish in one request (Centrifugo's ``batch``, one after another in the order given); per publication its
    error, None if published. Raises ``CentError`` subclasses when the request itself failed (nothing known)."""
    commands = [{"publish": {"channel": p.channel, "data": p.data,
                             **({"idempotency_key": p.idempotency_key} if p.idempotency_key else {})}}
                for p in publications]
    result = await client.batch(_PublishBatch(commands=commands))  # type: ignore[arg-type]
    return list(result.errors)  # type: ignore[attr-defined]


class _PublishReplies(CentResult):
    errors: list[Any]


class _PublishBatch(CentRequest[_PublishReplies]):
    # cent's own BatchRequest cannot read a reply holding an error (it looks for the command's name in every reply).
    __returning__ = _PublishReplies
    __api_method__ = "batch"
    commands: list[dict[str, Any]]

    @property
    def api_payload(self) -> Any:
        return {"commands": self.commands, "parallel": False}

    def parse_response(self, content: str) -> Response[CentResult]:
        try:
            body = json.loads(content)
        except ValueError as bad:
            raise CentDecodeError from bad
        if not isinstance(body, dict) or body.get("error"):
            raise _api_error(body.get("error") if isinstance(body, dict) else None)
        replies = body.get("replies")
        if not isinstance(replies, list) or len(replies) != len(self.commands):
            raise CentDecodeError("batch reply: not one reply per command")
        errors = [None if isinstance(reply, dict) and not reply.get("error") else
                  _api_error(reply.get("error") if isinstance(reply, dict) else None) for reply in replies]
        return Response[CentResult](result=_PublishReplies(errors=errors))


def _api_error(error: Any) -> CentApiResponseError:
    known = error if isinstance(error, dict) else {}
    return CentApiResponseError(code=int(known.get("code", 0)), message=str(known.get("message", "unreadable reply")))


async def disconnect_agent(client: AsyncClient, *, agent_id: str, reason: str) -> None:
    """End every live connection of the agent, for good: a terminal code, so their page does not reconnect.

    Raises ``CentError`` subclasses for the caller to translate.
    """
    await client.disconnect(DisconnectRequest(user=agent_id, disconnect=Disconnect(code=ACCESS_ENDED_CODE,
                                                                                   reason=reason)))
async def broadcast_many(client: AsyncClient,
                         broadcasts: list[tuple[list[str], dict[str, Any]]]) -> list[CentError | None]:
    """Each (channels, data) broadcast, in one request (``batch``, in the order given); per broadcast its error, None
    if sent. Raises ``CentError`` subclasses when the request itself failed (nothing known)."""
    commands = [{"broadcast": {"channels": channels, "data": data}} for channels, data in broadcasts]
    result = await client.batch(_PublishBatch(commands=commands))  # type: ignore[arg-type]
    return list(result.errors)  # type: ignore[attr-defined]


async def broadcast(client: AsyncClient, *, channels: list[str], data: dict[str, object]) -> None:
    """The same publication to several channels in one call; raises ``CentError`` subclasses."""
    await client.broadcast(BroadcastRequest(channels=channels, data=data))


async def health(client: AsyncClient) -> Health:
    try:
        result = await client.info(InfoRequest())
    except CentError as error:
        return Health("centrifugo", False, f"{type(error).__name__}: {error}"[:300])
    versions = sorted({node.version for node in result.nodes if node.version})
    return Health("centrifugo", True, f"{len(result.nodes)} node(s), version {', '.join(versions) or 'unknown'}")

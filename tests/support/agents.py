"""A helpdesk page stand-in: a real centrifuge-python client subscribed to one agent's channel."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from centrifuge import (
    Client,
    ClientEventHandler,
    DisconnectedContext,
    ErrorContext,
    PublicationContext,
    SubscriptionErrorContext,
    SubscriptionEventHandler,
    UnsubscribedContext,
)


class _ClientEvents(ClientEventHandler):
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.disconnects: list[tuple[int, str]] = []

    async def on_error(self, ctx: ErrorContext) -> None:
        self.errors.append(str(ctx.error))

    async def on_disconnected(self, ctx: DisconnectedContext) -> None:
        self.disconnects.append((ctx.code, ctx.reason))


class AgentPage(SubscriptionEventHandler):
    def __init__(self, *, agent_id: str, token: str, websocket_url: str, channel: str) -> None:
        self.agent_id = agent_id
        self.channel = channel
        self.received: list[dict[str, Any]] = []  # the calls' lifecycle: ringing, answered, ended, dismissed
        self.card_updates: list[dict[str, Any]] = []  # "card": a call's card found after it was shown
        self.everything: list[dict[str, Any]] = []  # both, in the order they arrived
        self.unsubscribed: list[UnsubscribedContext] = []
        self.errors: list[SubscriptionErrorContext] = []
        self._changed = asyncio.Event()
        self.connection = _ClientEvents()
        self.client = Client(websocket_url, token=token, events=self.connection)
        self.subscription = self.client.new_subscription(channel, events=self)

    @classmethod
    async def open_with_token_from_api(cls, api: httpx.AsyncClient, agent_id: str) -> AgentPage:
        response = await api.post(f"/api/v1/agents/{agent_id}/token")
        response.raise_for_status()
        body = response.json()
        page = cls(agent_id=agent_id, token=body["token"], websocket_url=body["websocket_url"],
                   channel=body["channel"])
        await page.open()
        return page

    async def open(self, timeout: float = 5) -> None:
        await self.client.connect()
        await self.subscription.subscribe()
        await self.subscription.ready(timeout=timeout)

    async def close(self) -> None:
        await self.client.disconnect()

    async def on_publication(self, ctx: PublicationContext) -> None:
        data = ctx.pub.data
        self.everything.append(data)
        (self.card_updates if isinstance(data, dict) and data.get("event") == "card" else self.received).append(data)
        self._changed.set()

    async def on_unsubscribed(self, ctx: UnsubscribedContext) -> None:
        self.unsubscribed.append(ctx)
        self._changed.set()

    async def on_error(self, ctx: SubscriptionErrorContext) -> None:
        self.errors.append(ctx)

    async def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.received

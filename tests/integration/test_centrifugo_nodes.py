"""Two Centrifugo nodes on one Redis, both from deploy/centrifugo/config.json (the one configuration every
environment runs): a card published through one reaches an agent on the other, and a page whose node stops
reconnects to the other and recovers what it missed from the shared history."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from centrifuge import SubscribedContext

from callercard import centrifugo
from callercard.settings import Settings
from tests.support.agents import AgentPage
from tests.support.faults import PrivateRedis, TcpProxy, free_port
from tests.support.processes import ARTIFACTS, ROOT

CONFIG = ROOT / "deploy" / "centrifugo" / "config.json"
VERSION = re.search(r"^CENTRIFUGO_VERSION=(\S+)$", (ROOT / "scripts" / "services.sh").read_text(), re.MULTILINE)


def centrifugo_binary() -> Path:
    """The binary the services script built and cached (the session's Centrifugo runs it already)."""
    assert VERSION is not None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "callercard" / "go-bin" / f"centrifugo-{VERSION[1]}" / "centrifugo"


class Node:
    def __init__(self, name: str, *, settings: Settings, redis_url: str) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**os.environ, "CENTRIFUGO_HTTP_SERVER_ADDRESS": "127.0.0.1",
                    "CENTRIFUGO_HTTP_SERVER_PORT": str(self.port),
                    "CENTRIFUGO_HTTP_API_KEY": settings.centrifugo_api_key.get_secret_value(),
                    "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY": settings.centrifugo_token_secret.get_secret_value(),
                    "CENTRIFUGO_ENGINE_REDIS_ADDRESS": redis_url}
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def websocket_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/connection/websocket"

    def start(self) -> Node:
        with (ARTIFACTS / f"centrifugo-{self.name}.log").open("wb") as log:
            self.popen = subprocess.Popen([str(centrifugo_binary()), "--config", str(CONFIG)], env=self.env,
                                          stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"centrifugo node {self.name} did not start")

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)


@pytest.fixture
def nodes(settings: Settings, tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    redis = PrivateRedis(tmp_path / "redis").start()
    a = Node("a", settings=settings, redis_url=redis.url).start()
    b = Node("b", settings=settings, redis_url=redis.url).start()
    yield a, b
    a.stop()
    b.stop()
    redis.stop()


class RecoveringPage(AgentPage):
    def __init__(self, **kwargs: str) -> None:
        super().__init__(**kwargs)
        self.subscribed: list[SubscribedContext] = []

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        self.subscribed.append(ctx)


def page_on(url: str, settings: Settings, agent_id: str) -> RecoveringPage:
    token = centrifugo.connection_token(settings=settings, agent_id=agent_id)
    return RecoveringPage(agent_id=agent_id, token=token.token, websocket_url=url, channel=token.channel)


async def publish(node: Node, settings: Settings, channel: str, data: dict[str, object]) -> None:
    client = centrifugo.connect(settings.model_copy(update={"centrifugo_api_url": node.api_url}))
    try:
        await centrifugo.publish(client, channel=channel, data=data, idempotency_key=str(data["n"]))
    finally:
        await client.close()


async def test_a_card_published_through_one_node_reaches_an_agent_on_the_other(
        settings: Settings, nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    page = page_on(b.websocket_url, settings, "anna")
    await page.open()
    try:
        await publish(a, settings, page.channel, {"n": 1, "event": "ringing"})
        assert await page.wait_for(1, timeout=10) == [{"n": 1, "event": "ringing"}]
    finally:
        await page.close()


async def test_a_page_whose_node_stops_recovers_what_it_missed_from_the_other_node(
        settings: Settings, nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    balancer = await TcpProxy("127.0.0.1", a.port).start()  # what a load balancer in front of the nodes does
    page = page_on(f"ws://127.0.0.1:{balancer.port}/connection/websocket", settings, "boris")
    await page.open()
    try:
        await publish(a, settings, page.channel, {"n": 1, "event": "ringing"})
        await page.wait_for(1, timeout=10)
        a.stop()  # the page's node is gone; the page keeps trying to reconnect
        await publish(b, settings, page.channel, {"n": 2, "event": "dismissed"})  # while the page is away
        await publish(b, settings, page.channel, {"n": 3, "event": "ringing"})
        balancer.target = ("127.0.0.1", b.port)  # its reconnection now reaches the other node
        await page.wait_for(3, timeout=30)
        await asyncio.sleep(0.5)  # a duplicate would show up here
    finally:
        await page.close()
        await balancer.stop()
    assert [event["n"] for event in page.received] == [1, 2, 3], "missed publications recovered, none twice"
    assert [(ctx.was_recovering, ctx.recovered) for ctx in page.subscribed] == [(False, False), (True, True)]

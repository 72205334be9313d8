"""Fault tests: the real stack (listener, worker, API, Redis, FerretDB, Centrifugo, agents' pages) with one fault.

Each test gets a private Redis (its broker: stopping it, or killing the worker that consumes it, disturbs no
other test) and the session's FerretDB and Centrifugo, reached through a proxy where the test breaks them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pymongo import MongoClient
from pymongo.asynchronous.database import AsyncDatabase

from callercard.redis_state import EVERY_NUMBER, NUMBERS_CHANGED_CHANNEL
from callercard.settings import Settings
from tests.support.agents import AgentPage
from tests.support.directory import put_demo_directory
from tests.support.faults import PrivateRedis, free_port
from tests.support.processes import Process, http_answers, settings_kwargs
from tests.support.stores import create_product_indexes

FAULTS_DATABASE = "callercard_faults"
CLOSING = {"dismissed", "ended"}


@pytest.fixture(scope="session")
def fault_env(store_services: dict[str, str]) -> dict[str, str]:
    """The session's services, a database of the fault tests' own, and a port for their own API process."""
    return {**store_services, "CALLERCARD_MONGO_DATABASE": FAULTS_DATABASE,
            "CALLERCARD_API_PORT": str(free_port())}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def env(fault_env: dict[str, str], broker: PrivateRedis) -> dict[str, str]:
    """What this test's worker and listener run with: the private broker."""
    return {**fault_env, "CALLERCARD_REDIS_URL": broker.url}


def services_redis_url(fault_env: dict[str, str]) -> str:
    return fault_env["CALLERCARD_REDIS_URL"]


@pytest.fixture
def settings(env: dict[str, str], fault_env: dict[str, str]) -> Settings:
    settings = Settings(**settings_kwargs(env))  # type: ignore[arg-type]
    with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(settings.mongo_database)
        create_product_indexes(client, settings.mongo_database)
    with redis.Redis.from_url(services_redis_url(fault_env)) as client:  # the session's Redis: Centrifugo's engine
        # Replays repeat the PBX's ids exactly; Centrifugo would drop their card events as the previous test's.
        stale = list(client.scan_iter(match="centrifugo.result.*"))
        if stale:
            client.delete(*stale)
    with contextlib.suppress(redis.RedisError), redis.Redis.from_url(settings.redis_url) as client:
        # The API process remembers cards it answered: the store was emptied behind its back.
        client.publish(NUMBERS_CHANGED_CHANNEL, EVERY_NUMBER)
    return settings


@pytest.fixture(scope="session")
def api_process(fault_env: dict[str, str]) -> Iterator[Process]:
    process = Process("faults-api", ["api"], fault_env).start()
    process.wait_until(http_answers(f"http://127.0.0.1:{fault_env['CALLERCARD_API_PORT']}/status"))
    yield process
    process.stop()


@pytest.fixture
def api_url(api_process: Process, fault_env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{fault_env['CALLERCARD_API_PORT']}"


@pytest.fixture
async def seeded(admin_api: httpx.AsyncClient) -> None:
    _, result = await put_demo_directory(admin_api)
    assert result["rejected"] == []


@pytest.fixture
def start(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[Callable[..., Process]]:
    """``start("worker" | "listener" | "api", name, **CALLERCARD_overrides)``: a process stopped after the test."""
    started: list[Process] = []

    def starter(kind: str, name: str = "", **overrides: Any) -> Process:
        process_env = {**env, **{f"CALLERCARD_{k.upper()}": str(v) for k, v in overrides.items()}}
        args = {"worker": ["worker", "--concurrency", "1"], "listener": ["listener"], "api": ["api"]}[kind]
        label = f"{request.node.name}-{name or kind}".replace("[", "-").replace("]", "")
        process = Process(label, args, process_env, new_session=True).start()
        started.append(process)
        if kind == "worker":
            wait_worker_ready(process)
        return process

    yield starter
    for process in started:
        process.stop()


def wait_worker_ready(process: Process, starts: int = 1) -> None:
    """Until the worker's log says ``ready.`` for the ``starts``-th time (a restarted worker appends to it)."""
    process.wait_until(lambda: process.log_path.read_text(errors="replace").count("ready.") >= starts, timeout=60)


async def wait_records(db: AsyncDatabase, call_ids: set[str], timeout: float) -> dict[str, dict[str, Any]]:
    """The call-log records of ``call_ids`` once every one is there (raises TimeoutError with what is missing)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                found = {doc["_id"]: doc async for doc in db["calls"].find({"_id": {"$in": sorted(call_ids)}})}
                if set(found) == call_ids:
                    return found
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise TimeoutError(f"no call-log record for {sorted(call_ids - set(found))}") from None


def events_by_call(page: AgentPage) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for event in page.received:
        seen.setdefault(event["call_id"], []).append(event["event"])
    return seen


def open_popups(pages: dict[str, AgentPage]) -> dict[str, list[str]]:
    """Per agent, the calls whose last card event was not a closing one: popups that would stay on screen."""
    return {agent_id: stuck for agent_id, page in pages.items()
            if (stuck := [call for call, events in events_by_call(page).items() if events[-1] not in CLOSING])}


async def wait_no_open_popups(pages: dict[str, AgentPage], timeout: float) -> dict[str, list[str]]:
    """Wait up to ``timeout`` s for every popup to close; returns those still open (the test asserts it is empty)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while open_popups(pages):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
    return open_popups(pages)


async def wait_http(url: str, timeout: float = 30) -> None:
    """Like ``http_answers`` but without blocking the event loop (a test's proxy runs on it)."""
    async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=2) as client:
        while True:
            try:
                await client.get(url)
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)


async def wait_worker_ready_async(process: Process, starts: int = 1, timeout: float = 60) -> None:
    """``wait_worker_ready`` without blocking the event loop (a test's proxy runs on it)."""
    async with asyncio.timeout(timeout):
        while process.log_path.read_text(errors="replace").count("ready.") < starts:
            assert process.popen is not None and process.popen.poll() is None, process.tail()
            await asyncio.sleep(0.1)

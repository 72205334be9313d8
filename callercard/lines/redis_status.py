"""The latest line status of each queue, in Redis: what a widget shows on its first load."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

LINES_KEY = "callercard:lines"


async def save(client: aioredis.Redis, summary: dict[str, Any]) -> None:
    await client.hset(LINES_KEY, summary["queue"], json.dumps(summary))


async def load(client: aioredis.Redis, queues: list[str]) -> dict[str, dict[str, Any] | None]:
    if not queues:
        return {}
    values = await client.hmget(LINES_KEY, queues)
    return {queue: json.loads(raw) if raw else None for queue, raw in zip(queues, values, strict=True)}

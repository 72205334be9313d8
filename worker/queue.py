"""The domain's ``WorkerQueue`` port over Celery: how the API and the listener hand tasks to the worker."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from celery import Celery

from callercard.ports import RECORD_CALL, RECORD_CALLS, Task

log = logging.getLogger(__name__)


class CeleryQueue:
    """Implements ``callercard.ports.WorkerQueue``."""

    def __init__(self, celery: Celery) -> None:
        self._celery = celery

    async def send(self, task: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        # kombu's publish blocks on Redis: keep it off the event loop. Nobody here reads results: asking for
        # them makes Celery subscribe to each task's result, which grew the sending process 0.32 MiB per 1,000
        # sends (bench/README.md, listener cost) and, with Redis down, retried for 20 s per send.
        await asyncio.to_thread(self._celery.send_task, task, args=args, kwargs=kwargs, ignore_result=True)

    async def send_many(self, tasks: list[Task]) -> int:
        # One thread hop for a batch: under load the hop, not the publish, was the listener's cost per record.
        return await asyncio.to_thread(self._send_in_order, tasks)

    def _send_in_order(self, tasks: list[Task]) -> int:
        # One producer (one pooled connection) for the whole batch, not one acquired per task.
        with self._celery.producer_or_acquire() as producer:
            return self._send_with(producer, tasks)

    def _send_with(self, producer: Any, tasks: list[Task]) -> int:
        sent = 0
        for task, args, kwargs, count in _combined(tasks):
            try:
                self._celery.send_task(task, args=args, kwargs=kwargs, ignore_result=True, producer=producer)
            except Exception as error:  # the caller keeps the rest and retries them
                log.debug("broker refused %s after %d of %d: %s", task, sent, len(tasks), error)
                if sent == 0:
                    raise
                return sent
            sent += count
        return sent


def _combined(tasks: list[Task]) -> list[tuple[str, list[Any], dict[str, Any], int]]:
    """Consecutive call records as one ``record_calls`` (one broker message); the rest as they are. Each with how
    many of ``tasks`` it carries."""
    out: list[tuple[str, list[Any], dict[str, Any], int]] = []
    for task, args, kwargs in tasks:
        if task == RECORD_CALL and not kwargs:
            if out and out[-1][0] == RECORD_CALLS:
                name, (records,), _, count = out[-1]
                records.append(args[0])
                out[-1] = (name, [records], {}, count + 1)
            else:
                out.append((RECORD_CALLS, [[args[0]]], {}, 1))
        else:
            out.append((task, args, kwargs, 1))
    return out

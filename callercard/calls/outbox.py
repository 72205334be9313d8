"""Hand-offs to the worker that must not be lost: kept in order and retried while the broker is down.

A finished call's record goes to the worker's ``record_call`` through Redis. When Redis is
down, Celery's publish gives up after a few seconds; without this outbox the record would be
gone. The outbox keeps every record in memory, in order, and retries the oldest one with a
short backoff (``retry_max`` seconds at most), so records flow again within about that long
after the broker returns. Sending twice is harmless: ``record_call`` is idempotent by call id.
What is waiting goes out in batches (``batch`` at most, one ``send_many``: one thread hop in the Celery adapter,
not one per record, and consecutive records in one broker message), oldest first, ``linger`` seconds after
the first one came in so that a batch is more than one record under load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from itertools import islice
from typing import Any

from callercard import metrics

log = logging.getLogger(__name__)
Item = tuple[str, list[Any], dict[str, Any]]
SendTasks = Callable[[list[Item]], Awaitable[int]]  # sends in order; how many the broker took
# Runs before a hand-off that was queued after the last run: returns how many hand-offs (by count of ``put``s)
# it covered. The listener saves its live calls, and the records waiting here, before any record leaves.
OutboxGate = Callable[[], Awaitable[int]]


class TaskOutbox:
    def __init__(self, send: SendTasks, *, retry_initial: float = 0.25, retry_max: float = 2.0,
                 limit: int = 100_000, gate: OutboxGate | None = None, batch: int = 200,
                 linger: float = 0.0) -> None:
        self._send = send
        self._batch = batch
        self._linger = linger
        self._gate = gate
        self.puts = 0  # hand-offs queued so far
        self._covered = 0  # of them, how many the gate has seen
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._limit = limit
        self._pending: deque[tuple[str, list[Any], dict[str, Any], int]] = deque()
        self._wake = asyncio.Event()
        self.down_since: float | None = None  # time.monotonic() of the first failed hand-off of an outage
        self.sent = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def broker_down(self) -> bool:
        return self.down_since is not None

    def put(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Queue a hand-off; never blocks, never raises."""
        if len(self._pending) >= self._limit:
            dropped = self._pending.popleft()
            log.error("outbox full (%d hand-offs while the broker is down): dropping the oldest, %s %s",
                      self._limit, dropped[0], _call_id(dropped))
        self.puts += 1
        self._pending.append((name, args, kwargs, self.puts))
        self._wake.set()

    def waiting(self) -> list[tuple[int, str, list[Any], dict[str, Any]]]:
        """The hand-offs not yet taken by the broker, oldest first, each with its number (``puts`` when queued)."""
        return [(number, name, args, kwargs) for name, args, kwargs, number in self._pending]

    async def run(self) -> None:
        delay = self._retry_initial
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                if self._linger:  # what comes in meanwhile goes in the same hand-over
                    await asyncio.sleep(self._linger)
                continue
            if await self._send_oldest_batch():
                delay = self._retry_initial
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)

    async def _send_oldest_batch(self) -> bool:
        items = list(islice(self._pending, self._batch))
        try:
            # The batch was queued before the gate runs, so the gate's save covers all of it.
            if self._gate is not None and items[-1][3] > self._covered:
                self._covered = await self._gate()
            taken = await self._send([(name, args, kwargs) for name, args, kwargs, _ in items])
        except Exception as error:  # noqa: BLE001  # whatever stops a hand-off, the record waits and is retried
            taken, problem = 0, f"{type(error).__name__}: {str(error)[:200]}"
        else:
            problem = f"took {taken} of {len(items)}"
        for item in items[:taken]:
            if self._pending and self._pending[0] is item:  # unless ``put`` dropped it meanwhile
                self._pending.popleft()
        self.sent += taken
        if taken < len(items):
            metrics.CALL_LOG_WRITE_FAILURES.labels("hand-off").inc()
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.warning("broker unavailable (%s); keeping %d hand-off(s) and retrying", problem,
                            len(self._pending))
            return False
        if self.down_since is not None:
            log.warning("broker back after %.1f s; %d hand-off(s) still pending", time.monotonic() - self.down_since,
                        len(self._pending))
            self.down_since = None
        return True


def _call_id(item: tuple[str, list[Any], dict[str, Any], int]) -> str:
    _, args, kwargs, _ = item
    record = args[0] if args and isinstance(args[0], dict) else {}
    return f"call {record.get('call_id') or kwargs.get('call_id') or '?'}"

"""The board's publisher (listener side of lines): queue member events in, line status out to Redis and
``queues:status``. The API side, switching an agent between lines, is ``switching.py``.

Never blocks the AMI loop: ``observe`` is synchronous, and one consumer task saves and
publishes each changed queue's latest summary (a burst of changes to one queue: one publish), with a
sequence number so a widget can tell a stale snapshot from a newer event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping

import redis.asyncio as aioredis
from cent import AsyncClient
from cent.exceptions import CentError
from redis.exceptions import RedisError

from callercard import centrifugo
from callercard.lease import Lease, LeaseLost
from callercard.lines import redis_status
from callercard.lines.board import QueueBoard
from callercard.pbxs import DEFAULT_PBX

log = logging.getLogger(__name__)


class BoardPublisher:
    def __init__(self, *, redis: aioredis.Redis, cent: AsyncClient, pbx: str = DEFAULT_PBX,
                 lease: Lease | None = None) -> None:
        """Summaries name their ``pbx`` (an extra field: widgets that read only queue, free and on_line are
        unaffected); with ``lease`` nothing is saved or published once this listener is no longer active."""
        self.board = QueueBoard()
        self._redis = redis
        self._cent = cent
        self._pbx = pbx
        self._lease = lease
        # Queues changed since the last round, each once: under load a queue's member events come in bursts and
        # only its latest summary matters, so what waits is bounded by the number of queues, not of events.
        self._changed: dict[str, None] = {}
        self._wake = asyncio.Event()

    def observe(self, event: Mapping[str, str]) -> str | None:
        """Apply one event; the queue whose line status changed, if any."""
        queue = self.board.observe(event)
        if queue is not None:
            self._mark(queue)
        return queue

    def replace(self, entries: Iterable[Mapping[str, str]]) -> set[str]:
        changed = self.board.replace(entries)
        for queue in sorted(changed):
            self._mark(queue)
        return changed

    def _mark(self, queue: str) -> None:
        self._changed[queue] = None
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            changed, self._changed = self._changed, {}
            for queue in changed:
                await self._publish(queue)

    async def _publish(self, queue: str) -> None:
        summary = {**self.board.summary(queue), "pbx": self._pbx, "seq": time.time_ns()}
        try:
            await asyncio.wait_for(redis_status.save(self._redis, summary, lease=self._lease), 1.0)
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("line status of %s not saved: %s", queue, error)
        except LeaseLost:
            return  # not ours to publish either
        if self._lease is not None and not self._lease.holds():
            return
        try:
            await centrifugo.publish(self._cent, channel=centrifugo.QUEUES_CHANNEL, data=summary)
        except CentError as error:
            log.warning("line status of %s not published: %s", queue, error)

"""The board's publisher (listener side of lines): queue member events in, line status out to Redis and
``queues:status``. The API side, switching an agent between lines, is ``switching.py``.

Never blocks the AMI loop: ``observe`` is synchronous, and one consumer task saves and
publishes each changed queue's summary, in order, with a sequence number so a widget
can tell a stale snapshot from a newer event.
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
        self._changed: asyncio.Queue[str] = asyncio.Queue()

    def observe(self, event: Mapping[str, str]) -> str | None:
        """Apply one event; the queue whose line status changed, if any."""
        queue = self.board.observe(event)
        if queue is not None:
            self._changed.put_nowait(queue)
        return queue

    def replace(self, entries: Iterable[Mapping[str, str]]) -> set[str]:
        changed = self.board.replace(entries)
        for queue in sorted(changed):
            self._changed.put_nowait(queue)
        return changed

    async def run(self) -> None:
        while True:
            queue = await self._changed.get()
            summary = {**self.board.summary(queue), "pbx": self._pbx, "seq": time.time_ns()}
            try:
                await asyncio.wait_for(redis_status.save(self._redis, summary, lease=self._lease), 1.0)
            except (RedisError, OSError, TimeoutError) as error:
                log.warning("line status of %s not saved: %s", queue, error)
            except LeaseLost:
                continue  # not ours to publish either
            if self._lease is not None and not self._lease.holds():
                continue
            try:
                await centrifugo.publish(self._cent, channel=centrifugo.QUEUES_CHANNEL, data=summary)
            except CentError as error:
                log.warning("line status of %s not published: %s", queue, error)

"""The wallboard's publisher (listener side): queue events in, each changed queue's board out to Redis (what the
API and a page's first load read) and to ``wallboard:queues`` (what open wallboards hear), in order.

Never blocks the AMI loop: ``observe`` is synchronous; one consumer task saves and publishes. Today's counts
are saved with the boards, so a restarted listener goes on counting the same day.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo

import redis.asyncio as aioredis
from cent import AsyncClient
from cent.exceptions import CentError
from redis.exceptions import RedisError

from callercard import centrifugo
from callercard.lease import Lease, LeaseLost
from callercard.lines.board import QueueBoard
from callercard.pbxs import DEFAULT_PBX
from callercard.wallboard import redis_boards
from callercard.wallboard.board import Wallboard

log = logging.getLogger(__name__)


class WallboardPublisher:
    def __init__(self, *, redis: aioredis.Redis, cent: AsyncClient, members: QueueBoard,
                 service_level_seconds: float, timezone: tzinfo, pbx: str = DEFAULT_PBX, lease: Lease | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """Boards name their ``pbx``; with ``lease`` nothing is saved or published once this listener is no longer
        the PBX's active one."""
        self.board = Wallboard(service_level_seconds=service_level_seconds, timezone=timezone)
        self._members = members
        self._redis = redis
        self._cent = cent
        self._clock = clock
        self._pbx = pbx
        self._lease = lease
        # Queues changed since the last round, each once (an asyncio.Queue held one entry per event: under
        # overload thousands for a handful of queues).
        self._changed: dict[str, None] = {}
        self._wake = asyncio.Event()

    @property
    def backlog(self) -> int:
        """Queues whose change is not yet published."""
        return len(self._changed)

    async def restore(self) -> None:
        """Today's counts as the previous listener left them (nothing when Redis has none of today)."""
        try:
            snapshot = await redis_boards.load_state(self._redis, pbx=self._pbx)
        except (RedisError, OSError) as error:
            log.warning("wallboard state not restored (%s); today's counts start from now", error)
            return
        if snapshot:
            self.board.restore(snapshot, now=self._clock())

    def observe(self, event: Mapping[str, str], *, members_changed: str | None = None) -> None:
        changed = self.board.observe(event, now=self._clock())
        self._mark(changed | ({members_changed} if members_changed else set()))

    def replace(self, entries: Iterable[Mapping[str, str]], *, members_changed: Iterable[str] = ()) -> None:
        """A QueueStatus answer: its callers waiting; every queue it names (and whose members changed) is sent."""
        queues = self.board.replace_waiting(entries, now=self._clock()) | set(members_changed)
        self._mark(queues)

    def _mark(self, queues: Iterable[str]) -> None:
        for queue in sorted(queues):
            self._changed[queue] = None
        if self._changed:
            self._wake.set()

    async def run(self) -> None:
        """Send each changed queue's board; queues changed again meanwhile are sent once (the latest board), and
        today's state is saved once per round, not per event."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            changed, self._changed = set(self._changed), {}
            if not changed:
                continue
            now = self._clock()
            boards = [{**self.board.summary(queue, members=self._members.queues.get(queue, {}).values(), now=now),
                       "pbx": self._pbx, "seq": time.time_ns()} for queue in sorted(changed)]
            try:
                await asyncio.wait_for(redis_boards.save(self._redis, boards, state=self.board.snapshot(),
                                                         pbx=self._pbx, lease=self._lease), 1.0)
            except (RedisError, OSError, TimeoutError) as error:
                log.warning("wallboard of %s not saved: %s", ", ".join(sorted(changed)), error)
            except LeaseLost:
                continue  # not ours to publish either
            if self._lease is not None and not self._lease.holds():
                continue
            for board in boards:
                try:
                    await centrifugo.publish(self._cent, channel=centrifugo.WALLBOARD_CHANNEL, data=board)
                except CentError as error:
                    log.warning("wallboard of %s not published: %s", board["queue"], error)

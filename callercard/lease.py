"""Which listener is active for a PBX: a lease in Redis with a fencing token.

Any number of listeners may run for one PBX; the one holding ``callercard:pbx:<pbx>:lease`` is active, the others
are standbys that try to take it every fifth of its length. Each acquisition increments a counter
(``callercard:pbx:<pbx>:fence``), and the lease's value is ``<counter>:<listener>``: the fencing token. A paused
ex-leader (SIGSTOP, a long GC, a frozen VM) that wakes after its lease lapsed must not act on what it remembers:

- Redis writes of the active listener (screens, line board, live calls) run as one Lua script that checks the
  lease still holds this token (``fenced``): a stale token writes nothing.
- Centrifugo publishes and Celery hand-offs ask ``holds()`` right before they go: the token is ours and the lease
  has not run out by our own monotonic clock (which runs on while the process is stopped). No Redis round trip.

redis-py's ``Lock`` does the renewal part but has no fencing counter, hence these three small scripts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callercard.ports import Task, WorkerQueue
from callercard.together import Together

log = logging.getLogger(__name__)

# KEYS: lease, fence counter. ARGV: holder, milliseconds. The token, or nil when another listener holds it.
_ACQUIRE = """
if redis.call('exists', KEYS[1]) == 1 then return false end
local token = redis.call('incr', KEYS[2]) .. ':' .. ARGV[1]
redis.call('set', KEYS[1], token, 'PX', ARGV[2])
return token
"""
# KEYS: lease, fence counter. ARGV: token, milliseconds, the token's counter. 1 when renewed, 0 when the lease is
# no longer ours. A lease that lapsed while nobody took it since (the counter is still ours, or Redis lost
# everything in a restart without persistence) is taken again: nobody else acted meanwhile.
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
if holder then return 0 end
local fence = redis.call('get', KEYS[2])
if fence and fence ~= ARGV[3] then return 0 end
if not fence then redis.call('set', KEYS[2], ARGV[3]) end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('del', KEYS[1])
"""
# KEYS: lease, fence counter, then the keys written. ARGV: token, a JSON list of commands ([["HSET", key, field,
# value], ...]), milliseconds, the token's counter. The writes happen only while the lease holds ``token`` (or
# lapsed with nobody taking it since, as in _RENEW); returns 1 when written, 0 when fenced off.
_FENCED = """
local holder = redis.call('get', KEYS[1])
if holder ~= ARGV[1] then
  if holder then return 0 end
  local fence = redis.call('get', KEYS[2])
  if fence and fence ~= ARGV[4] then return 0 end
  if not fence then redis.call('set', KEYS[2], ARGV[4]) end
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
end
for _, command in ipairs(cjson.decode(ARGV[2])) do redis.call(unpack(command)) end
return 1
"""
# Our clock's deadline is this much shorter than the lease, for the time a renewal takes to reach Redis.
_SAFETY_SECONDS = 0.25
# Renewed from a thread, the lease outlives an event loop that is only slow (an overloaded listener's loop fell
# 4 s behind, its renewals with it, and it dropped its own popups as "not the active one"); a loop that has not
# run for this many leases is stuck, not slow: the lease is then left to lapse so that a standby takes over.
STUCK_AFTER_LEASES = 3


class LeaseLost(Exception):
    """This listener is no longer the active one: another holds the lease (or it lapsed)."""


def lease_key(pbx: str) -> str:
    return f"callercard:pbx:{pbx}:lease"


def holder_of(token: str | None) -> str | None:
    """The listener named in a lease's value (``<counter>:<listener>``)."""
    return token.split(":", 1)[1] if token and ":" in token else None


class Lease:
    def __init__(self, client: aioredis.Redis, *, pbx: str, holder: str, seconds: float, redis_url: str) -> None:
        """``client``: the loop's, for acquiring and fenced writes; ``redis_url``: the same Redis, for the renewing
        thread's own client."""
        self._client = client
        self._redis_url = redis_url
        self.pbx = pbx
        self.holder = holder
        self.seconds = seconds
        self.key = lease_key(pbx)
        self._fence_key = f"callercard:pbx:{pbx}:fence"
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._fenced = client.register_script(_FENCED)
        # Fenced writes that pile up (screens, live calls, boards under load) go in one script call.
        self._writes: Together[_Write] = Together("fenced_writes", self._write_together)
        self.token: str | None = None
        self._valid_until = 0.0  # time.monotonic() when the lease runs out by our clock
        self.acquired_at: float | None = None
        self._unreachable = False  # the latest renewal could not reach Redis
        self._tried_at = 0.0  # time.monotonic() of the latest renewal attempt
        self.lost = asyncio.Event()

    @property
    def milliseconds(self) -> int:
        return int(self.seconds * 1000)

    def holds(self) -> bool:
        """Whether this listener may act now: cheap (no I/O), asked right before every publish and hand-off.

        While Redis cannot be reached (renewals fail to connect, and the last one was just tried) the active
        listener goes on: no standby can take the lease without Redis either, and a Redis outage must not stop
        popups. A process that was frozen has tried nothing for a while: it acts again only once a renewal
        succeeds."""
        if self.token is None:
            return False
        now = time.monotonic()
        # Renewals are tried every third of the lease and wait up to a third for Redis: two thirds apart at most.
        return now < self._valid_until or (self._unreachable and now - self._tried_at < 2 * self.seconds / 3 + 1.0)

    async def try_acquire(self) -> bool:
        sent = time.monotonic()
        token = await self._acquire(keys=[self.key, self._fence_key], args=[self.holder, self.milliseconds])
        if token is None:
            return False
        self.token = token if isinstance(token, str) else token.decode()
        self._valid_until = sent + self.seconds - _SAFETY_SECONDS
        self._tried_at = sent
        self.acquired_at = sent
        self.lost.clear()
        log.info("listener %s is now active for PBX %s (fencing token %s)", self.holder, self.pbx, self.token)
        return True

    async def wait_acquired(self) -> None:
        """As a standby: try every fifth of the lease until this listener holds it."""
        while True:
            try:
                if await self.try_acquire():
                    return
            except (RedisError, OSError) as error:
                log.warning("lease of PBX %s unreadable (%s); trying again", self.pbx, type(error).__name__)
            await asyncio.sleep(self.seconds / 5)

    async def keep_renewed(self) -> None:
        """As the active listener: renew every third of the lease, from a thread of its own (``_renew_forever``)
        while this event loop shows it runs (a beat every half second); returns once the lease is gone.

        A renewal that fails (Redis down) is retried; the lease stays ours only until our clock's deadline."""
        loop, stop, beat = asyncio.get_running_loop(), threading.Event(), [time.monotonic()]
        thread = threading.Thread(target=self._renew_forever, args=(loop, stop, beat), daemon=True,
                                  name=f"lease-{self.pbx}")
        thread.start()
        try:
            while self.token is not None:
                beat[0] = time.monotonic()
                await asyncio.sleep(0.5)
        finally:
            stop.set()

    def _renew_forever(self, loop: asyncio.AbstractEventLoop, stop: threading.Event, beat: list[float]) -> None:
        client = redis.Redis.from_url(self._redis_url, socket_timeout=self.seconds / 3,
                                      socket_connect_timeout=self.seconds / 3)
        renew = client.register_script(_RENEW)
        try:
            while not stop.wait(self.seconds / 3) and (token := self.token) is not None:
                sent = time.monotonic()
                if sent - self._tried_at > self.seconds:  # this process did not run for a while
                    self._unreachable = False
                self._tried_at = sent
                if sent - beat[0] > STUCK_AFTER_LEASES * self.seconds:
                    log.error("listener %s: its event loop has not run for %.0f s; the lease of PBX %s is left to "
                              "lapse", self.holder, sent - beat[0], self.pbx)
                    continue
                try:
                    renewed = renew(keys=[self.key, self._fence_key],
                                    args=[token, self.milliseconds, token.split(":", 1)[0]])
                except (RedisError, OSError) as error:
                    self._unreachable = True
                    log.warning("lease of PBX %s not renewed (%s); serving on while Redis is unreachable", self.pbx,
                                type(error).__name__)
                    continue
                self._unreachable = False
                if not renewed:
                    self._valid_until = 0.0  # at once, not when the loop gets to it
                    loop.call_soon_threadsafe(self._lose, "another listener holds it")
                    return
                self._valid_until = sent + self.seconds - _SAFETY_SECONDS
        finally:
            client.close()

    def _lose(self, why: str) -> None:
        log.error("listener %s lost the lease of PBX %s (%s): no more publishes or writes", self.holder, self.pbx,
                  why)
        self.token = None
        self._valid_until = 0.0
        self.lost.set()

    async def release(self) -> None:
        """On a clean stop: let a standby take over at once instead of after the lease lapses."""
        token, self.token, self._valid_until = self.token, None, 0.0
        if token is not None:
            try:
                await self._release(keys=[self.key], args=[token])
            except (RedisError, OSError) as error:
                log.warning("lease of PBX %s not released (%s); it lapses by itself", self.pbx, type(error).__name__)

    async def fenced(self, commands: Sequence[Sequence[str | int | float]], *, keys: Sequence[str]) -> None:
        """Run these Redis write commands atomically, only while the lease holds our token; raises ``LeaseLost``."""
        self._check_holds()
        await self._writes(_Write(commands, keys))

    def _check_holds(self) -> str:
        token = self.token
        if token is None or not self.holds():
            raise LeaseLost(f"listener {self.holder} is not active for PBX {self.pbx}")
        return token

    async def _write_together(self, writes: list[_Write]) -> list[BaseException | None]:
        token = self._check_holds()  # again: the lease may have run out while the writes waited their turn
        commands = [list(command) for write in writes for command in write.commands]
        keys = list(dict.fromkeys(key for write in writes for key in write.keys))
        written = await self._fenced(keys=[self.key, self._fence_key, *keys],
                                     args=[token, json.dumps(commands), self.milliseconds, token.split(":", 1)[0]])
        if not written:
            self._lose("a fenced write found another listener's token")
            raise LeaseLost(f"listener {self.holder} is no longer active for PBX {self.pbx}")
        return [None] * len(writes)


@dataclass(frozen=True, slots=True)
class _Write:
    commands: Sequence[Sequence[str | int | float]]
    keys: Sequence[str]


class FencedQueue:
    """A ``WorkerQueue`` that hands nothing to the worker unless the lease is ours (``holds()``, no I/O)."""

    def __init__(self, queue: WorkerQueue, lease: Lease) -> None:
        self._queue = queue
        self._lease = lease

    async def send(self, task: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        if not self._lease.holds():
            raise LeaseLost(f"listener {self._lease.holder} is not active for PBX {self._lease.pbx}: {task} not sent")
        await self._queue.send(task, args, kwargs)

    async def send_many(self, tasks: list[Task]) -> int:
        if not self._lease.holds():
            raise LeaseLost(f"listener {self._lease.holder} is not active for PBX {self._lease.pbx}: "
                            f"{len(tasks)} task(s) not sent")
        return await self._queue.send_many(tasks)


async def active_holder(client: aioredis.Redis, pbx: str) -> str | None:
    """The listener that holds ``pbx``'s lease now, if any."""
    raw = await client.get(lease_key(pbx))
    return holder_of(raw if isinstance(raw, str) or raw is None else raw.decode())

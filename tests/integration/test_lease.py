"""The listener's lease (``callercard.lease``) against the real Redis: renewed from a thread, it outlives an event
loop that is only behind, and lapses when the loop is stuck."""

from __future__ import annotations

import asyncio
import time
import uuid

import redis.asyncio as aioredis

from callercard.lease import STUCK_AFTER_LEASES, Lease, lease_key
from callercard.settings import Settings

SECONDS = 1.5


async def held_through_a_busy_loop(settings: Settings, *, busy: float) -> tuple[bool, str | None]:
    """Acquire, keep renewed, block the event loop ``busy`` s (an overloaded listener's loop falls behind so);
    then: whether ``holds()`` says the lease is ours at once, and whose token Redis has."""
    pbx = f"lease-{uuid.uuid4().hex[:6]}"
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    lease = Lease(client, pbx=pbx, holder="busy", seconds=SECONDS, redis_url=settings.redis_url)
    try:
        assert await lease.try_acquire()
        renewing = asyncio.create_task(lease.keep_renewed())
        await asyncio.sleep(1.0)
        time.sleep(busy)  # noqa: ASYNC251  # the point: nothing else on this loop runs meanwhile
        held = lease.holds()
        holder = await client.get(lease_key(pbx))
        renewing.cancel()
        return held, holder
    finally:
        await lease.release()
        await client.aclose()


async def test_a_lease_renewed_from_a_thread_outlives_a_loop_that_is_behind(settings: Settings) -> None:
    """Renewed by a task of the blocked loop instead (before 0e18a35), the lease ran out meanwhile: (False, None)."""
    held, holder = await held_through_a_busy_loop(settings, busy=2 * SECONDS)
    assert held and holder is not None and holder.endswith(":busy")


async def test_a_stuck_loop_lets_the_lease_lapse_so_a_standby_can_take_it(settings: Settings) -> None:
    held, holder = await held_through_a_busy_loop(settings, busy=(STUCK_AFTER_LEASES + 2.5) * SECONDS)
    assert (held, holder) == (False, None)


async def test_fenced_writes_that_pile_up_go_in_one_script_call_and_are_fenced_off_together(
        settings: Settings) -> None:
    pbx = f"lease-{uuid.uuid4().hex[:6]}"
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    mine = Lease(client, pbx=pbx, holder="mine", seconds=5, redis_url=settings.redis_url)
    other = Lease(client, pbx=pbx, holder="other", seconds=5, redis_url=settings.redis_url)
    key = f"callercard:test:{pbx}"
    try:
        assert await mine.try_acquire()
        await asyncio.gather(*(mine.fenced([["HSET", key, f"f{n}", n]], keys=[key]) for n in range(20)))
        assert await client.hgetall(key) == {f"f{n}": str(n) for n in range(20)}
        assert mine._writes.round_trips <= 2, "20 writes at once must not take a script call each"
        # Another listener takes over (our lease ran out by Redis's clock; ours still says it holds).
        await client.delete(lease_key(pbx))
        assert await other.try_acquire()
        results = await asyncio.gather(*(mine.fenced([["HSET", key, f"late{n}", n]], keys=[key]) for n in range(5)),
                                       return_exceptions=True)
        assert [type(r).__name__ for r in results] == ["LeaseLost"] * 5
        assert sorted(await client.hkeys(key)) == sorted(f"f{n}" for n in range(20))
        assert not mine.holds()
    finally:
        await other.release()
        await client.delete(key)
        await client.aclose()

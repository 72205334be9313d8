"""Round trips that wait for company (callercard.together): lone items go at once, lingering ones go together,
and a hurry ends every linger."""

from __future__ import annotations

import asyncio
import time

from callercard.lookup.number_reads import NumberReads
from callercard.together import Linger, Together


class Trips:
    def __init__(self) -> None:
        self.sent: list[tuple[float, list[int]]] = []
        self.t0 = time.monotonic()

    async def send(self, items: list[int]) -> list[BaseException | None]:
        self.sent.append((round(time.monotonic() - self.t0, 2), items))
        await asyncio.sleep(0.01)
        return [None] * len(items)


async def _arriving(together: Together[int], count: int, every: float) -> None:
    async def one(k: int) -> None:
        await asyncio.sleep(k * every)
        await together(k)

    async with asyncio.timeout(5):
        await asyncio.gather(*(one(k) for k in range(count)))


async def test_without_linger_the_first_item_goes_at_once_and_the_rest_wait_for_a_free_round_trip() -> None:
    trips = Trips()
    await _arriving(Together("t", trips.send, in_flight=1), count=4, every=0.001)
    assert trips.sent[0][1] == [0]
    assert sorted(k for _, items in trips.sent for k in items) == [0, 1, 2, 3]


async def test_with_linger_what_arrives_meanwhile_goes_in_one_round_trip() -> None:
    trips = Trips()
    await _arriving(Together("t", trips.send, linger=Linger(0.2)), count=5, every=0.02)
    assert [items for _, items in trips.sent] == [[0, 1, 2, 3, 4]]
    assert trips.sent[0][0] >= 0.19


async def test_a_hurry_ends_every_linger_at_once_and_none_lingers_for_a_while() -> None:
    trips, linger = Trips(), Linger(2.0, hurried_for=1.0)
    reads, writes = Together("reads", trips.send, linger=linger), Together("writes", trips.send, linger=linger)
    waiting = asyncio.gather(reads(1), writes(2))
    await asyncio.sleep(0.05)
    assert trips.sent == []
    linger.hurry()
    async with asyncio.timeout(0.5):
        await waiting
    await reads(3)  # within ``hurried_for``: at once
    assert sorted(k for _, items in trips.sent for k in items) == [1, 2, 3]
    assert max(at for at, _ in trips.sent) < 0.5


async def test_a_lookup_s_hurry_reaches_the_linger_of_its_reads() -> None:
    linger = Linger(2.0)
    reads = NumberReads(None, in_queries=object(), linger=linger)  # type: ignore[arg-type]  # no store is asked
    reads.hurry()
    async with asyncio.timeout(0.5):
        await linger.wait()

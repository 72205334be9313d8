"""Requests that pile up go out together: one round trip for all that waited, none kept waiting on purpose.

An item goes out at once while fewer than ``in_flight`` round trips are on their way, so a quiet process waits
for nothing; unless it may wait (``linger``: the listener's card lookups, which have the whole greeting), then what
arrives within ``linger`` s goes with it. Under load the rest wait for the next free round trip and leave in one,
in the order they came: each round trip costs a process its socket writes and reads and the server a request,
which under load was most of the listener's own work after reading the AMI (Centrifugo publishes, fenced Redis
writes).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from callercard import metrics

Item = TypeVar("Item")
# Per item its failure, None if done; raising fails every item of the round trip.
SendTogether = Callable[[list[Item]], Awaitable[list[BaseException | None]]]


class Linger:
    """How long round trips wait for others to go with them (the listener's lookup reads); ``hurry`` (a popup waits
    for its card now: a call that rang without a greeting) ends every wait, and none waits again for
    ``hurried_for`` seconds."""

    def __init__(self, seconds: float, *, hurried_for: float = 1.0) -> None:
        self.seconds, self.hurried_for = seconds, hurried_for
        self._hurried_until = 0.0
        self._waiting: set[asyncio.Event] = set()

    def hurry(self) -> None:
        self._hurried_until = time.monotonic() + self.hurried_for
        for waiting in self._waiting:
            waiting.set()

    async def wait(self) -> None:
        if self.seconds <= 0 or time.monotonic() < self._hurried_until:
            return
        hurried = asyncio.Event()
        self._waiting.add(hurried)
        try:
            async with asyncio.timeout(self.seconds):
                await hurried.wait()
        except TimeoutError:
            pass
        finally:
            self._waiting.discard(hurried)


class Together(Generic[Item]):
    def __init__(self, what: str, send: SendTogether[Item], *, in_flight: int = 2, most: int = 64,
                 linger: Linger | None = None) -> None:
        """``what``: the label of the ``callercard_round_trips_total`` and ``..._items_total`` counters."""
        self._send_together = send
        self._round_trips = metrics.ROUND_TRIPS.labels(what)
        self._round_trip_items = metrics.ROUND_TRIP_ITEMS.labels(what)
        self._in_flight, self._most, self._linger = in_flight, most, linger
        self._lingering = False  # a sender waits out ``linger``: what comes meanwhile is its, not a new sender's
        self._waiting: deque[tuple[Item, asyncio.Future[None]]] = deque()
        self._senders: set[asyncio.Task[None]] = set()
        self.round_trips = 0
        self.items = 0

    async def __call__(self, item: Item) -> None:
        """Done once this returns; raises the item's own failure (its caller decides whether to try again)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._senders) < self._in_flight and not self._lingering:
            sender = asyncio.get_running_loop().create_task(self._send_while_waiting())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        await future

    async def _send_while_waiting(self) -> None:
        if self._linger is not None:
            self._lingering = True
            try:
                await self._linger.wait()
            finally:
                self._lingering = False
        while batch := self._take():
            try:
                await self._send(batch)
            except asyncio.CancelledError:  # the process is stopping: nobody is told it was done
                for _, future in batch:
                    future.cancel()
                raise

    def _take(self) -> list[tuple[Item, asyncio.Future[None]]]:
        batch: list[tuple[Item, asyncio.Future[None]]] = []
        while self._waiting and len(batch) < self._most:
            item, future = self._waiting.popleft()
            if not future.done():  # its caller stopped waiting (cancelled): not sent
                batch.append((item, future))
        return batch

    async def _send(self, batch: list[tuple[Item, asyncio.Future[None]]]) -> None:
        self.round_trips += 1
        self.items += len(batch)
        self._round_trips.inc()
        self._round_trip_items.inc(len(batch))
        errors: list[BaseException | None]
        try:
            errors = await self._send_together([item for item, _ in batch])
        except Exception as failed:  # noqa: BLE001 - whatever ended the round trip reaches each caller: none waits on
            errors = [failed] * len(batch)
        for (_, future), error in zip(batch, errors, strict=True):
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

"""Card events that pile up go to the real Centrifugo in one request, in order, each failing on its own."""

from __future__ import annotations

import asyncio
import uuid

from cent import AsyncClient, HistoryRequest
from cent.exceptions import CentApiResponseError

from callercard import centrifugo
from callercard.calls.publish_batcher import PublishBatcher
from callercard.settings import Settings


def channels(count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]  # history outlives a run
    return [centrifugo.agent_channel(f"batch-{run}-{n}") for n in range(count)]


async def history(reader: AsyncClient, channel: str) -> list[object]:
    return [p.data for p in (await reader.history(HistoryRequest(channel=channel, limit=100))).publications]


async def test_publications_that_pile_up_go_in_one_request_each_channel_in_order(settings: Settings) -> None:
    client, reader = centrifugo.connect(settings), centrifugo.connect(settings)
    batcher = PublishBatcher(client)
    agents = channels(3)
    try:
        await batcher.publish(centrifugo.Publication(agents[0], {"n": 0}))  # alone: nothing waits for company
        assert (batcher.round_trips, batcher.items) == (1, 1)
        await asyncio.gather(*(batcher.publish(centrifugo.Publication(agents[n % 3], {"n": n}, f"k{n}"))
                               for n in range(1, 31)))
        assert batcher.items == 31
        assert batcher.round_trips <= 3, "30 publications at once must not take a request each"
        for index, channel in enumerate(agents):
            expected = [{"n": n} for n in range(31) if n % 3 == index]
            assert await history(reader, channel) == expected
    finally:
        await client.close()
        await reader.close()


async def test_a_publication_centrifugo_refuses_fails_alone_and_the_rest_of_its_batch_goes_out(
        settings: Settings) -> None:
    client, reader = centrifugo.connect(settings), centrifugo.connect(settings)
    batcher = PublishBatcher(client)
    [agent] = channels(1)
    unknown = f"no_such_namespace:{uuid.uuid4().hex[:8]}"
    try:
        results = await asyncio.gather(batcher.publish(centrifugo.Publication(agent, {"n": 1})),
                                       batcher.publish(centrifugo.Publication(unknown, {"n": 2})),
                                       batcher.publish(centrifugo.Publication(agent, {"n": 3})),
                                       return_exceptions=True)
        assert batcher.round_trips == 1
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], CentApiResponseError)
        assert results[1].code == 102, results[1]  # Centrifugo's "unknown channel"
        assert await history(reader, agent) == [{"n": 1}, {"n": 3}]
    finally:
        await client.close()
        await reader.close()


async def test_a_batch_asks_the_lease_before_its_first_byte_like_a_single_publication(settings: Settings) -> None:
    allowed = True
    client = centrifugo.connect(settings, may_send=lambda: allowed)
    reader = centrifugo.connect(settings)
    batcher = PublishBatcher(client)
    [agent] = channels(1)
    try:
        await batcher.publish(centrifugo.Publication(agent, {"n": 0}))
        allowed = False
        results = await asyncio.gather(*(batcher.publish(centrifugo.Publication(agent, {"n": n})) for n in (1, 2)),
                                       return_exceptions=True)
        assert all(isinstance(r, centrifugo.NotSending) for r in results), results
        assert await history(reader, agent) == [{"n": 0}]
    finally:
        await client.close()
        await reader.close()


async def test_the_same_card_event_twice_in_a_batch_is_shown_once(settings: Settings) -> None:
    client, reader = centrifugo.connect(settings), centrifugo.connect(settings)
    batcher = PublishBatcher(client)
    [agent] = channels(1)
    try:
        await asyncio.gather(*(batcher.publish(centrifugo.Publication(agent, {"n": 1}, "call-1:leg-1:ringing"))
                               for _ in range(2)))
        assert await history(reader, agent) == [{"n": 1}]
    finally:
        await client.close()
        await reader.close()


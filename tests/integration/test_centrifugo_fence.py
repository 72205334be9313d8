"""The listener's Centrifugo client asks its lease once more right before a request's first byte: a process
frozen between its own check and the write sends nothing once it wakes without the lease."""

from __future__ import annotations

import uuid

import pytest
from cent import HistoryRequest
from cent.exceptions import CentError

from callercard import centrifugo
from callercard.settings import Settings


async def test_a_client_that_may_no_longer_send_writes_nothing_and_says_so(settings: Settings) -> None:
    allowed = True
    client = centrifugo.connect(settings, may_send=lambda: allowed)
    reader = centrifugo.connect(settings)
    channel = centrifugo.agent_channel(f"fence-{uuid.uuid4().hex[:8]}")  # history outlives a run
    try:
        await centrifugo.publish(client, channel=channel, data={"n": 1})
        allowed = False  # what a lease that ran out while the process was frozen says
        with pytest.raises(centrifugo.NotSending):
            await centrifugo.publish(client, channel=channel, data={"n": 2})
        history = await reader.history(HistoryRequest(channel=channel, limit=10))
        assert [publication.data for publication in history.publications] == [{"n": 1}]
        allowed = True  # the same client sends again once it may (a standby that takes the lease back)
        await centrifugo.publish(client, channel=channel, data={"n": 3})
        history = await reader.history(HistoryRequest(channel=channel, limit=10))
        assert [publication.data for publication in history.publications] == [{"n": 1}, {"n": 3}]
    finally:
        await client.close()
        await reader.close()


async def test_a_process_frozen_after_the_connection_check_writes_nothing_on_waking(settings: Settings) -> None:
    """aiohttp writes a request from a task of its own, after the connection is handed over: the lease is asked
    again by the write itself. Here it holds when the connection is taken and has run out when bytes would go."""
    answers = iter([True, True])  # the first request: its connection check, then its write

    def may_send() -> bool:
        return next(answers, False)

    client = centrifugo.connect(settings, may_send=may_send)
    reader = centrifugo.connect(settings)
    channel = centrifugo.agent_channel(f"fence-{uuid.uuid4().hex[:8]}")
    try:
        await centrifugo.publish(client, channel=channel, data={"n": 1})
        answers = iter([True])  # the connection check passes; the lease has run out when the write asks
        with pytest.raises(CentError):
            await centrifugo.publish(client, channel=channel, data={"n": 2})
        history = await reader.history(HistoryRequest(channel=channel, limit=10))
        assert [publication.data for publication in history.publications] == [{"n": 1}]
    finally:
        await client.close()
        await reader.close()

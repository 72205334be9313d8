"""The listener's Centrifugo client asks its lease once more right before a request's first byte: a process
frozen between its own check and the write sends nothing once it wakes without the lease."""

from __future__ import annotations

import uuid

import pytest
from cent import HistoryRequest

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

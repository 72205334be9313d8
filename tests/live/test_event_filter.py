"""A real Asterisk sends the listener what it reads and nothing else (asterisk/event_filter.py).

The same calls seen at once by three sessions on the login classes the listener asks for: the shipped user (its
``eventfilter`` line, as scripts/asterisk.sh loads the snippet), a user without that line that sends the Filter
action the listener sends (it has the system class the action needs), and that user without any filter. The
filtered sessions get exactly the unfiltered session's events whose names are in the list, one for one; the
numbers per call are the figures of bench/README.md's lever 1. That the listener needs no more is shown by
tests/live/test_live_pbx.py, whose listener reads this filtered stream, and tests/unit/test_event_filter.py."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from asterisk.event_filter import LISTENER_EVENTS, filter_action
from tools.ami_client import AmiClient
from tools.pbx_scenarios import SCENARIOS as CALLS
from tools.pbx_scenarios import Pbx
from tools.phones import Phone

LISTENER_CLASSES = "call,agent,system"
UNFILTERED_USER = "callercard-unfiltered"  # tests/live/pbx/manager.conf


@pytest.fixture
async def observers(live_pbx: dict[str, str], service_env: dict[str, str]) -> AsyncIterator[dict[str, AmiClient]]:
    made = {kind: AmiClient(host="127.0.0.1", port=int(live_pbx["CALLERCARD_LIVE_AMI_PORT"]),
                            username=UNFILTERED_USER, secret=service_env["CALLERCARD_AMI_SECRET"],
                            events=LISTENER_CLASSES)
            for kind in ("unfiltered", "filter_action")}
    for client in made.values():
        await client.connect()
    try:
        yield made
    finally:
        for client in made.values():
            await client.close()


def events_since(client: AmiClient, start: int) -> Counter[str]:
    """Event names the PBX sent on its own (answers to the session's actions carry its ActionID)."""
    return Counter(m["Event"] for m in client.messages[start:] if "Event" in m and "ActionID" not in m)


@pytest.mark.parametrize("name", ["pjsip_decline_603", "attended_transfer", "abandon_in_queue_nobody_free"])
async def test_the_pbx_sends_only_the_events_the_listener_reads(
        name: str, pbx_ami: AmiClient, observers: dict[str, AmiClient], phones: dict[str, Phone]) -> None:
    [answer] = await observers["filter_action"].send(filter_action())
    assert (answer.get("Response"), answer.get("Message")) == ("Success", "Success"), answer
    shipped = pbx_ami  # the shipped user: its manager.conf section's eventfilter line
    call = CALLS[name]
    for number, behaviours in call.phones.items():
        phones[number].serve(behaviours).ready()
    starts = {"shipped": len(shipped.messages), **{kind: len(c.messages) for kind, c in observers.items()}}
    pbx = Pbx(ami=pbx_ami, phones=phones)
    await call.drive(pbx)
    await pbx.settle()
    await asyncio.sleep(1.0)
    await pbx_ami.wait_idle(timeout=60, poll=0.5)
    for phone in phones.values():
        phone.wait(timeout=15)
    await asyncio.sleep(1.0)  # the last events reach every session

    everything = events_since(observers["unfiltered"], starts["unfiltered"])
    wanted = Counter({event: count for event, count in everything.items() if event in LISTENER_EVENTS})
    assert {"Newchannel", "Hangup"} <= set(wanted), everything
    assert events_since(shipped, starts["shipped"]) == wanted
    assert events_since(observers["filter_action"], starts["filter_action"]) == wanted
    print(f"{name}: {everything.total()} events unfiltered, {wanted.total()} filtered ({dict(wanted)})")

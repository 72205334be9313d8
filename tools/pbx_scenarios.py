"""Calls on the test PBX (``tests/live/pbx/``), each driven the same way for recording and for the live tests.

A scenario tells each phone what to do with its calls, then places the call by AMI ``Originate`` (the
caller's side is a Local channel waiting in ``Wait``, as the first captures were made) or from a phone, and
acts where an agent would (transfer, the red button). rrmemory remembers whom it rang last across calls, so a
scenario that needs one agent rung first pauses the other until the first one rings (``first_rings``).
What each agent must see is in ``tests/support/scenarios.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tools.ami_client import AmiClient
from tools.phones import Answer, Behaviour, Decline, NoAnswer, Phone

INTERFACES = {"201": "PJSIP/201", "202": "PJSIP/202", "203": "PJSIP/203"}


@dataclass
class Pbx:
    """What a scenario drives: the AMI session and the phones by extension."""

    ami: AmiClient
    phones: Mapping[str, Phone]
    background: list[asyncio.Task[None]] = field(default_factory=list)  # a scenario's steps still to come

    async def settle(self) -> None:
        await asyncio.gather(*self.background, return_exceptions=True)


Drive = Callable[[Pbx], Awaitable[None]]


@dataclass(frozen=True)
class PbxScenario:
    name: str
    summary: str
    drive: Drive
    phones: Mapping[str, Sequence[Behaviour]] = field(default_factory=dict)


async def originate(pbx: Pbx, *, exten: str, caller: str, patience: float = 40) -> None:
    """A call from ``caller`` to ``exten`` in context ``incoming``; the caller hangs up after ``patience`` s."""
    await pbx.ami.send({"Action": "Originate", "Channel": f"Local/{exten}@incoming", "Application": "Wait",
                        "Data": f"{patience:g}", "Async": "true", "CallerID": f"<{caller}>"})


async def pause(pbx: Pbx, *, queue: str, extension: str, paused: bool) -> None:
    await pbx.ami.send({"Action": "QueuePause", "Queue": queue, "Interface": INTERFACES[extension],
                        "Paused": "true" if paused else "false"})


async def first_rings(pbx: Pbx, *, queue: str, first: str, then: str, exten: str, caller: str,
                      patience: float = 40) -> None:
    """Ring ``first``, then ``then``, in rrmemory ``queue`` (whatever it remembers from earlier calls): ``then``
    is paused until ``first`` rings, and ``first`` from then until ``then`` rings (in the background)."""
    await pause(pbx, queue=queue, extension=then, paused=True)
    await originate(pbx, exten=exten, caller=caller, patience=patience)
    await pbx.ami.wait_event("AgentCalled", Queue=queue, MemberName=_NAMES[first])
    await pause(pbx, queue=queue, extension=first, paused=True)
    await pause(pbx, queue=queue, extension=then, paused=False)
    pbx.background.append(asyncio.create_task(_unpause_when_rung(pbx, queue=queue, rung=then, member=first)))


async def _unpause_when_rung(pbx: Pbx, *, queue: str, rung: str, member: str) -> None:
    try:
        await pbx.ami.wait_event("AgentCalled", timeout=30, Queue=queue, MemberName=_NAMES[rung])
    finally:
        await pause(pbx, queue=queue, extension=member, paused=False)


_NAMES = {"201": "Anna Smirnova", "202": "Boris Ivanov", "203": "Vera Kozlova"}


async def _answered(pbx: Pbx) -> None:
    await pause(pbx, queue="support", extension="201", paused=True)
    await originate(pbx, exten="support", caller="+79161234567", patience=6)
    await pbx.ami.wait_event("Hangup", timeout=30, Context="incoming", Exten="support")
    await pause(pbx, queue="support", extension="201", paused=False)


async def _no_answer_then_next(pbx: Pbx) -> None:
    await first_rings(pbx, queue="support", first="201", then="202", exten="support", caller="84957654321")


async def _ringall(pbx: Pbx) -> None:
    await originate(pbx, exten="sales", caller="+74959876543")


async def _decline_by_phone(pbx: Pbx) -> None:
    await first_rings(pbx, queue="support", first="202", then="201", exten="support", caller="84956667788")


async def _decline_button(pbx: Pbx) -> None:
    await first_rings(pbx, queue="support", first="202", then="201", exten="support", caller="84956667788")
    ringing = await pbx.ami.wait_channel("PJSIP/202-")
    await pbx.ami.send({"Action": "Hangup", "Channel": ringing, "Cause": "21"})  # what the red button sends


async def _answered_by_anna(pbx: Pbx, caller: str) -> str:
    """A support call Anna answers (Boris paused meanwhile); returns her channel."""
    await pause(pbx, queue="support", extension="202", paused=True)
    await originate(pbx, exten="support", caller=caller)
    connect = await pbx.ami.wait_event("AgentConnect", Queue="support", MemberName=_NAMES["201"])
    await pause(pbx, queue="support", extension="202", paused=False)
    return connect["DestChannel"]


async def _blind_transfer_to_queue(pbx: Pbx) -> None:
    anna = await _answered_by_anna(pbx, "84955556677")
    await asyncio.sleep(1.0)
    await pbx.ami.send({"Action": "BlindTransfer", "Channel": anna, "Context": "internal", "Exten": "night"})


async def _attended_transfer(pbx: Pbx) -> None:
    anna = await _answered_by_anna(pbx, "84951234567")
    await asyncio.sleep(1.0)
    await pbx.ami.send({"Action": "Atxfer", "Channel": anna, "Context": "internal", "Exten": "203"})
    # Anna's phone hangs up once Vera has answered (its script): that completes the transfer.


async def _agent_to_agent(pbx: Pbx) -> None:
    pbx.phones["201"].dial("202", talk=4)


async def _direct(pbx: Pbx) -> None:
    await originate(pbx, exten="4950000201", caller="84957654321")


async def _ring_group(pbx: Pbx) -> None:
    await originate(pbx, exten="4950000200", caller="89031112233")


async def _queue_timeout(pbx: Pbx) -> None:
    await originate(pbx, exten="short", caller="84991234567")


async def _abandon_nobody_free(pbx: Pbx) -> None:
    await originate(pbx, exten="second", caller="+79161234567", patience=5)


SCENARIOS: dict[str, PbxScenario] = {s.name: s for s in [
    PbxScenario("pjsip_answered", "Boris's phone answers after 1 s (Anna paused); the caller hangs up after 6 s",
                _answered, {"202": [Answer(after=1)]}),
    PbxScenario("pjsip_no_answer_then_next_agent", "Anna's phone rings 4 s unanswered, Boris's answers and hangs up",
                _no_answer_then_next, {"201": [NoAnswer()], "202": [Answer(after=1, talk=3)]}),
    PbxScenario("pjsip_ringall_one_answers", "queue sales rings all three phones; Vera's answers after 2 s",
                _ringall, {"201": [NoAnswer()], "202": [NoAnswer()], "203": [Answer(after=2, talk=3)]}),
    PbxScenario("pjsip_decline_486", "Boris's phone refuses with 486 Busy Here; Anna's answers",
                _decline_by_phone, {"202": [Decline(after=1, code=486)], "201": [Answer(after=1, talk=3)]}),
    PbxScenario("pjsip_decline_603", "Boris's phone refuses with 603 Decline; Anna's answers",
                _decline_by_phone, {"202": [Decline(after=1, code=603)], "201": [Answer(after=1, talk=3)]}),
    PbxScenario("pjsip_decline_button", "Boris presses Decline in the widget (AMI Hangup, Cause 21, on his "
                "ringing PJSIP channel); Anna's phone answers", _decline_button,
                {"202": [NoAnswer()], "201": [Answer(after=1, talk=3)]}),
    PbxScenario("blind_transfer_to_queue", "Anna answers, then blind-transfers the caller (AMI BlindTransfer) to "
                "queue night; Vera answers there", _blind_transfer_to_queue,
                {"201": [Answer(after=1)], "203": [Answer(after=1, talk=3)]}),
    PbxScenario("attended_transfer", "Anna answers, consults Vera (AMI Atxfer to 203), Vera answers, Anna hangs "
                "up: the caller is Vera's", _attended_transfer,
                {"201": [Answer(after=1, talk=4.5)], "203": [Answer(after=1, talk=4)]}),
    PbxScenario("agent_to_agent_call", "Anna's phone dials 202; Boris answers; Anna hangs up after 4 s",
                _agent_to_agent, {"202": [Answer(after=1)]}),
    PbxScenario("did_direct_to_phone", "a DID dialled straight to Anna's phone (Dial, no queue); she answers",
                _direct, {"201": [Answer(after=1, talk=3)]}),
    PbxScenario("ring_group_one_answers", "a DID ringing Anna and Boris at once (Dial(PJSIP/201&PJSIP/202)); "
                "Boris answers", _ring_group, {"201": [NoAnswer()], "202": [Answer(after=2, talk=3)]}),
    PbxScenario("queue_timeout_continues", "the night line's Queue() gives up after 5 s (Vera rang 3 s "
                "unanswered); the dialplan goes on (QUEUESTATUS=TIMEOUT, a prompt) and hangs up",
                _queue_timeout, {"203": [NoAnswer()]}),
    PbxScenario("abandon_in_queue_nobody_free", "a caller waits in queue second, where nobody is logged in, "
                "and hangs up after 5 s", _abandon_nobody_free),
]}

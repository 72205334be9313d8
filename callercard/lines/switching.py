"""Switching an agent between lines (queues) or off incoming calls, with AMI queue actions.

Line N is the agent's N-th queue in the agent directory. Choosing a line adds the agent to
that queue (``QueueAdd``; "Already there" is fine) and takes them off the others: a dynamic
member is removed (``QueueRemove``), a static one (in the PBX's ``queues.conf``, which
Asterisk refuses to remove: "Member not dynamic") is paused instead (``QueuePause``).
"Off" does the second half for every line. Each step is reported in words the agent
understands; a step the PBX refuses for any other reason stops the switch with a 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callercard.agents.schemas import Agent
from callercard.errors import InvalidInput, PbxRefused
from callercard.ports import PbxActions


@dataclass(frozen=True, slots=True)
class Membership:
    interface: str
    state_interface: str


def membership_of(agent: Agent) -> Membership:
    """Local channels join queues as ``Local/201@agents/n`` (no optimization), others as the device itself."""
    if not agent.devices:
        raise InvalidInput("devices", f"agent {agent.id!r} has no device to ring; add one in the agent directory")
    assert agent.phone is not None
    device = agent.phone.device
    interface = f"{device}/n" if device.startswith("Local/") else device
    return Membership(interface=interface, state_interface=device)


def member_in(line: dict[str, Any] | None, interface: str) -> dict[str, Any] | None:
    """The member ``interface`` in a line's saved status, if there."""
    return next((m for m in (line or {}).get("members", []) if m["interface"] == interface), None)


async def switch(*, pbx: PbxActions, agent: Agent, line: int | None,
                 status: dict[str, dict[str, Any] | None]) -> list[str]:
    """Carry out the switch; returns what was done, one sentence per step."""
    if line is not None and not 1 <= line <= len(agent.lines):
        raise InvalidInput("line", f"agent {agent.id!r} has {len(agent.lines)} line(s); choose 1 to "
                                   f"{len(agent.lines)} or null for off")
    me = membership_of(agent)
    chosen = agent.lines[line - 1] if line is not None else None
    done: list[str] = []
    if chosen is not None:
        member = member_in(status.get(chosen), me.interface)
        if member is None:
            try:
                await pbx.queue_add(queue=chosen, interface=me.interface, member_name=agent.name,
                                    state_interface=me.state_interface)
                done.append(f"joined line {line} ({chosen})")
            except PbxRefused as refused:
                if "already there" not in refused.message.lower():
                    raise
                done.append(f"already on line {line} ({chosen})")
                member = {"paused": True}  # the board did not know: make sure the agent is not left paused
        if member is not None and member.get("paused"):
            await pbx.queue_pause(queue=chosen, interface=me.interface, paused=False)
            done.append(f"taking calls again on line {line} ({chosen})")
    for number, queue in enumerate(agent.lines, start=1):
        if queue == chosen:
            continue
        known = status.get(queue)
        member = member_in(known, me.interface)
        if known is not None and member is None:
            continue  # the board says the agent is not there: nothing to leave
        if member is not None and member.get("paused"):
            continue
        done += await _leave(pbx=pbx, queue=queue, number=number, me=me, dynamic=(member or {}).get("dynamic"))
    return done


async def _leave(*, pbx: PbxActions, queue: str, number: int, me: Membership, dynamic: bool | None) -> list[str]:
    if dynamic is not False:
        try:
            await pbx.queue_remove(queue=queue, interface=me.interface)
            return [f"left line {number} ({queue})"]
        except PbxRefused as refused:
            text = refused.message.lower()
            if "not there" in text:
                return []
            if "not dynamic" not in text:
                raise
    await pbx.queue_pause(queue=queue, interface=me.interface, paused=True, reason="other line")
    return [(f"paused on line {number} ({queue}): a permanent member in the PBX's queues.conf cannot leave it "
             "(Asterisk: Member not dynamic)")]

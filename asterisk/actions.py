"""AMI actions the API sends: decline a ringing leg, queue membership, callbacks.

One short manager session per action, logged in with ``Events: off``: the
listener's session carries the event stream, and an action from the API never
waits behind it. panoramisk and socket errors become ``PbxUnavailable``; an
Asterisk ``Response: Error`` becomes ``PbxRefused`` carrying Asterisk's message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from panoramisk import Manager
from panoramisk.message import Message

from asterisk.ami_protocol import protocol_factory
from callercard.errors import PbxRefused, PbxUnavailable
from callercard.ports import ActionAnswer

log = logging.getLogger(__name__)
_NEVER = 10**9
DECLINED_CAUSE = "21"  # "Call rejected": what a desk phone's decline key sends


@dataclass(frozen=True, slots=True)
class AmiAddress:
    host: str
    port: int
    username: str
    secret: str
    timeout: float = 5.0


class AmiActions:
    """Implements ``callercard.ports.PbxActions``."""

    def __init__(self, address: AmiAddress) -> None:
        self.address = address

    async def send(self, fields: Mapping[str, str | list[str]]) -> ActionAnswer:
        """Send one action and return Asterisk's answer; raises ``PbxRefused`` / ``PbxUnavailable``."""
        action = fields["Action"]
        response = await self._exchange(fields)
        message = str(response.get("Message", ""))
        action_id = str(response.get("ActionID", ""))
        if response.get("Response") != "Success":
            log.warning("AMI %s refused by the PBX: %s", action, message)
            raise PbxRefused(f"the PBX refused {action}: {message or 'no reason given'}", action=str(action),
                             asterisk_message=message)
        return ActionAnswer(action=str(action), message=message, action_id=action_id)

    async def _exchange(self, fields: Mapping[str, str | list[str]]) -> Message:
        address = self.address
        manager = Manager(host=address.host, port=address.port, username=address.username, secret=address.secret,
                          events="off", ping_delay=_NEVER, reconnect_timeout=_NEVER,
                          loop=asyncio.get_running_loop(), protocol_factory=protocol_factory())
        try:
            async with asyncio.timeout(address.timeout):
                await manager.connect()
                login = await manager.authenticated_future
                if not login.success:
                    raise PbxUnavailable(f"the PBX refused callercard's manager login: {login.get('Message', '')}")
                response = await manager.send_action(dict(fields), as_list=False)
        except TimeoutError as error:
            raise PbxUnavailable(f"the PBX did not answer {fields['Action']} within {address.timeout:g} s") from error
        except OSError as error:
            raise PbxUnavailable(f"cannot reach the PBX's manager interface: {error}") from error
        finally:
            manager.close()
        return response

    async def hangup(self, *, channel: str, cause: str = DECLINED_CAUSE) -> ActionAnswer:
        return await self.send({"Action": "Hangup", "Channel": channel, "Cause": cause})

    async def queue_add(self, *, queue: str, interface: str, member_name: str, state_interface: str) -> ActionAnswer:
        return await self.send({"Action": "QueueAdd", "Queue": queue, "Interface": interface,
                                "MemberName": member_name, "StateInterface": state_interface})

    async def queue_remove(self, *, queue: str, interface: str) -> ActionAnswer:
        return await self.send({"Action": "QueueRemove", "Queue": queue, "Interface": interface})

    async def queue_pause(self, *, queue: str, interface: str, paused: bool, reason: str = "") -> ActionAnswer:
        fields = {"Action": "QueuePause", "Queue": queue, "Interface": interface,
                  "Paused": "true" if paused else "false"}
        if paused and reason:
            fields["Reason"] = reason
        return await self.send(fields)

    async def originate(self, *, channel: str, context: str, exten: str, caller_id: str,
                        variables: Mapping[str, str], action_id: str) -> ActionAnswer:
        """Ring ``channel`` (the agent's phone) first, then dial ``exten`` in ``context``; always ``Async``."""
        return await self.send({"Action": "Originate", "Channel": channel, "Context": context, "Exten": exten,
                                "Priority": "1", "CallerID": caller_id, "Async": "true",
                                "Variable": [f"{key}={value}" for key, value in variables.items()],
                                "ActionID": action_id})

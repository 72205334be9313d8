"""What the replayed PBX has live, tracked from the events it sends: channels and queue members.

``CoreShowChannels`` and ``QueueStatus`` are answered from it, as Asterisk answers them from its own state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

CHANNEL_FIELDS = ("Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
                  "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode", "Context", "Exten",
                  "Priority", "Uniqueid", "Linkedid")


def observe_members(members: dict[str, dict[str, dict[str, str]]], headers: Mapping[str, str]) -> None:
    """Track queue members (queue -> interface -> the member event's fields) from replayed events."""
    event = headers.get("Event")
    if event in ("QueueMemberAdded", "QueueMemberPause", "QueueMemberStatus"):
        members.setdefault(headers.get("Queue", ""), {})[headers.get("Interface", "")] = dict(headers)
    elif event == "QueueMemberRemoved":
        members.get(headers.get("Queue", ""), {}).pop(headers.get("Interface", ""), None)


def observe_channels(channels: dict[str, dict[str, Any]], headers: Mapping[str, str]) -> None:
    """Track live channels (by Uniqueid, in creation order) from replayed Newchannel ... Hangup events."""
    event, uid = headers.get("Event"), headers.get("Uniqueid", "")
    if event == "Newchannel":
        channels[uid] = {"born": asyncio.get_running_loop().time()}
    chan = channels.get(uid)
    if chan is None:
        return
    if event == "Hangup":
        del channels[uid]
        return
    chan.update({k: headers[k] for k in CHANNEL_FIELDS if k in headers})
    if event == "Newexten":
        chan["Application"] = headers.get("Application", "")
        chan["ApplicationData"] = headers.get("AppData", "")
    elif event in ("BridgeEnter", "BridgeLeave"):
        chan["BridgeId"] = headers.get("BridgeUniqueid", "") if event == "BridgeEnter" else ""


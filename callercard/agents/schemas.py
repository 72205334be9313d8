"""Agents: who they are, which phones (devices) ring for them, which queues are their lines."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from callercard.pbxs import PbxDevice, parse_device

# Also what Centrifugo's channel name ``agent:#<agent_id>`` takes (``centrifugo.agent_channel``).
AGENT_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
AgentId = Annotated[str, StringConstraints(pattern=AGENT_ID_PATTERN)]
# A device may name its PBX (``pbx2:PJSIP/201``, see callercard/pbxs.py); a plain one is on the default PBX.
Device = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=128,
                                          pattern=r"^(?:[a-z0-9][a-z0-9_-]{0,31}:)?[A-Za-z0-9_]+/[^\s]+$")]


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    devices: list[Device] = Field(default_factory=list, max_length=20,
                                  description="e.g. PJSIP/201 or Local/201@agents: a channel name cut at its last '-'; "
                                              "on another PBX than the default one, with its id: pbx2:PJSIP/201")
    lines: list[Annotated[str, StringConstraints(min_length=1, max_length=80)]] = Field(
        default_factory=list, max_length=10, description="queue names that are this agent's lines")
    enabled: bool = Field(default=True, description="false: the agent's tokens and keys stop working at once and "
                                                    "their helpdesk page is disconnected")


class Agent(AgentIn):
    id: AgentId

    @property
    def phone(self) -> PbxDevice | None:
        """The device that rings for the agent's callbacks and lines (the first), and the PBX it is on."""
        return parse_device(self.devices[0]) if self.devices else None


class AgentToken(BaseModel):
    token: str = Field(description="Centrifugo connection token: connects and reads only the agent's channel")
    api_token: str = Field(description="the API credential acting as this agent (Authorization: Bearer); it ends "
                                       "when it expires or the agent is disabled or removed")
    channel: str = Field(description="the agent's card events: agent:#<agent_id>")
    callbacks_channel: str = Field(description="the agent's callback worklist rows: callbacks:#<agent_id>")
    websocket_url: str
    expires_at: int = Field(description="Unix time, seconds")

"""The API process's collaborators, as one typed dependency (``ServicesDep``); who is calling is ``api/auth.py``.

``Services`` is built once by the composition root (``api/app.py``) and typed against the domain's ports, so
routers never see which adapter is behind ``pbx``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from cent import AsyncClient as CentClient
from fastapi import Depends, Request

from callercard import redis_state
from callercard.agents.schemas import Agent
from callercard.calls.flow_service import CallFlowService
from callercard.calls.redis_feed import SharedHttpFeed
from callercard.calls.redis_screens import Screens
from callercard.errors import Conflict
from callercard.lookup.local_cache import LocalCardCache
from callercard.lookup.services import CardLookup
from callercard.mongo import Database, IndexUpkeep
from callercard.ports import PbxActions, WorkerQueue
from callercard.settings import Settings
from callercard.webhooks.events import WebhookEmitter


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    centrifugo: CentClient
    pbx_calls: SharedHttpFeed
    call_service: CallFlowService
    pbxs: Mapping[str, PbxActions]  # PBX id -> its manager interface (settings' AMI_* and PBXS)
    screens: Screens
    local_cards: LocalCardCache
    lookup: CardLookup
    indexes: IndexUpkeep
    queue: WorkerQueue
    webhooks: WebhookEmitter

    def pbx_on(self, pbx: str) -> PbxActions:
        """The PBX ``pbx``'s actions; a 409 naming the setting when this API has no address for it (an agent's
        device names a PBX nobody configured: the agent directory and the settings disagree)."""
        actions = self.pbxs.get(pbx)
        if actions is None:
            raise Conflict(f"no manager interface for PBX {pbx!r} here: add it to CALLERCARD_PBXS, or correct the "
                           "agent's device", pbx=pbx)
        return actions

    def pbx_of(self, agent: Agent) -> PbxActions:
        """Where the agent's actions go: the PBX of the agent's (first) device; the default one without a device."""
        return self.pbx_on(agent.phone.pbx if agent.phone else self.settings.pbx_id)

    async def cards_changed(self, numbers: list[str]) -> None:
        """After a write this process made: forget here at once, and tell the other API processes."""
        self.local_cards.forget(numbers)
        await redis_state.announce_changed_numbers(self.redis, numbers)


async def get_services(request: Request) -> Services:  # async: FastAPI runs plain functions in a thread
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

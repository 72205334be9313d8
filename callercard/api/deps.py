"""The API process's collaborators, as one typed dependency (``ServicesDep``); who is calling is ``api/auth.py``.

``Services`` is built once by the composition root (``api/app.py``) and typed against the domain's ports, so
routers never see which adapter is behind ``pbx``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from cent import AsyncClient as CentClient
from fastapi import Depends, Request

from callercard import redis_state
from callercard.calls.flow_service import CallFlowService
from callercard.calls.pbx_events import HttpCallFlow
from callercard.calls.redis_screens import Screens
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
    pbx_calls: HttpCallFlow
    call_service: CallFlowService
    pbx: PbxActions
    screens: Screens
    local_cards: LocalCardCache
    lookup: CardLookup
    indexes: IndexUpkeep
    queue: WorkerQueue
    webhooks: WebhookEmitter

    async def cards_changed(self, numbers: list[str]) -> None:
        """After a write this process made: forget here at once, and tell the other API processes."""
        self.local_cards.forget(numbers)
        await redis_state.announce_changed_numbers(self.redis, numbers)


async def get_services(request: Request) -> Services:  # async: FastAPI runs plain functions in a thread
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

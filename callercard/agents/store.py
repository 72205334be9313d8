"""MongoDB access for the agent directory, and the device → agent map the listener uses."""

from __future__ import annotations

import logging
import time

from pymongo.errors import PyMongoError

from callercard.agents.schemas import Agent, AgentIn
from callercard.mongo import AGENTS, Database
from callercard.pbxs import DEFAULT_PBX, parse_device

log = logging.getLogger(__name__)


async def put(db: Database, *, agent_id: str, agent: AgentIn) -> bool:
    """Create or replace; True when created."""
    result = await db[AGENTS].replace_one({"_id": agent_id}, agent.model_dump(), upsert=True)
    return result.upserted_id is not None


async def get(db: Database, *, agent_id: str) -> Agent | None:
    doc = await db[AGENTS].find_one({"_id": agent_id})
    return Agent(id=doc.pop("_id"), **doc) if doc else None


async def all_agents(db: Database) -> list[Agent]:
    return [Agent(id=doc.pop("_id"), **doc) async for doc in db[AGENTS].find({}).sort("_id", 1)]


async def delete(db: Database, *, agent_id: str) -> bool:
    return (await db[AGENTS].delete_one({"_id": agent_id})).deleted_count == 1


class DeviceMap:
    """Device → agent id on one PBX, refreshed from MongoDB at most every ``max_age`` seconds; keeps the last
    good map. Devices of other PBXs (``pbx2:PJSIP/201`` when this is not pbx2) are not this listener's."""

    def __init__(self, db: Database, *, max_age: float = 5.0, pbx: str = DEFAULT_PBX) -> None:
        self._db = db
        self._pbx = pbx
        self._max_age = max_age
        self._devices: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._loaded_at = float("-inf")

    def agent_for(self, device: str) -> str | None:
        return self._devices.get(device.lower())

    def name_of(self, agent_id: str) -> str | None:
        return self._names.get(agent_id)

    async def refresh(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self._max_age:
            return
        try:
            agents = await all_agents(self._db)
        except PyMongoError as error:
            log.warning("agent directory unavailable (%s); keeping %d known devices", type(error).__name__,
                        len(self._devices))
            return
        # A disabled agent's phone may still ring: no card is published for them.
        self._devices = {on.device.lower(): agent.id for agent in agents if agent.enabled
                         for on in map(parse_device, agent.devices)
                         if on.pbx == self._pbx}
        self._names = {agent.id: agent.name for agent in agents}
        self._loaded_at = time.monotonic()

"""Path and query parameters several routers share, and reading them into domain values (bad ones: a 422)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from callercard import phone
from callercard.agents.schemas import AgentId
from callercard.api.deps import Services

AgentIdPath = Annotated[AgentId, Path(description="agent id: lowercase letters, digits, '.', '_', '-'")]
CallIdPath = Annotated[str, Path(max_length=128, description="the call id (Asterisk's Linkedid)")]
NumberPath = Annotated[str, Path(description="the number in any format", max_length=64)]


def parse_number(raw: str, services: Services, *, field: str = "number") -> phone.Number:
    """``raw`` normalized with the settings' region and area code; ``InvalidInput`` naming ``field`` if invalid."""
    settings = services.settings
    return phone.parse_input(raw, field=field, region=settings.default_region, area_code=settings.default_area_code)


def dialable_number(raw: str, services: Services, *, field: str = "number") -> str:
    """The E.164 form of ``raw``; ``InvalidInput`` naming ``field`` unless it is a number one can dial."""
    settings = services.settings
    return phone.dialable(raw, field=field, region=settings.default_region, area_code=settings.default_area_code)

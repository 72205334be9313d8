"""The supervisors' wallboard: its API (every queue's board now, a screen's Centrifugo token) and its page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from callercard import centrifugo
from callercard.api.auth import SupervisorOrAdmin
from callercard.api.deps import ServicesDep
from callercard.errors import CallercardError, StoreUnavailable
from callercard.pbxs import known_pbxs
from callercard.wallboard import redis_boards

router = APIRouter(tags=["wallboard"])
HERE = Path(__file__).parent
PAGE = HERE / "wallboard.html"
SCRIPT = HERE.parent / "widget" / "dist" / "wallboard.js"


class WallboardToken(BaseModel):
    token: str
    channel: str = Field(description="the wallboard's channel; the token subscribes the connection to it")
    websocket_url: str
    expires_at: int = Field(description="Unix time, seconds")


class PageNotBuilt(CallercardError):
    status_code = 503
    error_id = "widget-not-built"


def as_of(board: dict[str, Any], *, now: datetime, day: str) -> dict[str, Any]:
    """A saved board brought to ``now``: the longest wait goes on growing; a board of an earlier day counts zero."""
    oldest = board.get("oldest_waiting_since")
    longest = round((now - datetime.fromisoformat(oldest)).total_seconds(), 1) if oldest else 0.0
    today = board["today"] if board["today"].get("day") == day else {
        "day": day, "answered": 0, "answered_within_service_level": 0, "abandoned": 0, "average_wait_seconds": None}
    return {**board, "longest_wait_seconds": max(longest, 0.0), "today": today}


@router.get("/api/v1/wallboard", summary="Every queue now: callers waiting, agents, and today's calls")
async def wallboard(svc: ServicesDep, _caller: SupervisorOrAdmin) -> dict[str, Any]:
    """Kept by the listener from the PBX's queue events (each board says the service level it counted with); the
    same boards go live on ``wallboard:queues``."""
    settings = svc.settings
    try:
        boards = await redis_boards.load(svc.redis, pbxs=known_pbxs(settings))
    except (RedisError, OSError) as error:
        raise StoreUnavailable("the wallboard is unavailable right now (Redis); retry shortly") from error
    now = datetime.now(UTC)
    day = now.astimezone(settings.timezone).date().isoformat()
    return {"at": now, "day": day, "timezone": settings.wallboard_timezone,
            "queues": [as_of(board, now=now, day=day) for board in boards]}


@router.post("/api/v1/wallboard/token", response_model=WallboardToken,
             summary="A short-lived Centrifugo token for a wallboard screen (subscribed to wallboard:queues only)")
async def wallboard_token(svc: ServicesDep, caller: SupervisorOrAdmin) -> WallboardToken:
    token = centrifugo.wallboard_token(settings=svc.settings, viewer=caller.name)
    return WallboardToken(token=token.token, channel=token.channel, websocket_url=token.websocket_url,
                          expires_at=token.expires_at)


@router.get("/wallboard", response_class=HTMLResponse, include_in_schema=False,
            summary="The wallboard page (it asks for a supervisor's key)")
async def wallboard_page() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(), headers={"Cache-Control": "no-cache"})


@router.get("/wallboard/wallboard.js", response_class=FileResponse, include_in_schema=False)
async def wallboard_script() -> Response:
    if not SCRIPT.is_file():
        raise PageNotBuilt("the wallboard is not built; run `make widget` (npm ci && npm run build)")
    return FileResponse(SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})

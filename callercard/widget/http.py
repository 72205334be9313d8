"""The widget script, and the demo helpdesk page and its token endpoint (only when ``CALLERCARD_DEMO_ENABLED``)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, HTMLResponse

from callercard.agents import services as agents
from callercard.agents.schemas import AgentToken
from callercard.api.deps import ServicesDep
from callercard.api.params import AgentIdPath
from callercard.errors import CallercardError, Forbidden

router = APIRouter(tags=["widget"])
HERE = Path(__file__).parent
WIDGET = HERE / "dist" / "callercard.js"
DEMO_PAGE = HERE / "demo.html"


class WidgetNotBuilt(CallercardError):
    status_code = 503
    error_id = "widget-not-built"


@router.get("/widget/callercard.js", summary="The embeddable widget (built from callercard/widget/src)",
            response_class=FileResponse, responses={200: {"content": {"text/javascript": {}}}})
async def widget_script() -> Response:
    if not WIDGET.is_file():
        raise WidgetNotBuilt("the widget is not built; run `make widget` (npm ci && npm run build)")
    return FileResponse(WIDGET, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


# The demo's own agents: the only ones its login-free token endpoint serves, so a demo left on beside a real
# directory cannot mint a real agent's tokens.
DEMO_AGENTS = frozenset(json.loads((HERE.parent / "demo" / "agents.json").read_text(encoding="utf-8")))
# Mounted only when CALLERCARD_DEMO_ENABLED (api/app.py), which refuses to start off loopback unless told.
demo_router = APIRouter(tags=["demo"])


@demo_router.get("/demo", summary="A pretend helpdesk: pick Anna, Boris or Vera and see their popups",
                 response_class=HTMLResponse, include_in_schema=False)
async def demo_page(services: ServicesDep) -> HTMLResponse:
    config = {"accountUrl": services.settings.helpdesk_account_url}
    html = DEMO_PAGE.read_text().replace("__CONFIG__", json.dumps(config))
    return HTMLResponse(html)


@demo_router.post("/demo/token/{agent_id}", summary="The demo helpdesk's token endpoint (demo only: no login)",
                  include_in_schema=False)
async def demo_token(services: ServicesDep, agent_id: AgentIdPath) -> AgentToken:
    """What a real helpdesk's backend does after its own login: ask callercard for this agent's token."""
    if agent_id not in DEMO_AGENTS:
        raise Forbidden(f"the demo gives tokens only to its own agents ({', '.join(sorted(DEMO_AGENTS))})")
    return await agents.issue_token(db=services.db, settings=services.settings, agent_id=agent_id)

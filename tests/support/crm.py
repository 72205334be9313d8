"""A CRM's HTTP API, as small as the tests need, served for real (Starlette on uvicorn, in a thread of its own).

``GET /api/phones/{number}`` searches the customers by the last 10 digits of their phones *as the CRM stores
them* (free form: ``8 (495) 123-45-67``) and answers ``{"customers": [...]}``, or 404 when none has it. A test
edits ``customers`` as someone editing the CRM would, and makes a number slow (``delays``) or failing
(``failures``); ``requests`` and ``answered`` say what callercard asked and when the CRM had answered.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.faults import free_port

TOKEN = "crm-test-token-0123456789"


def _last10(number: str) -> str:
    return re.sub(r"\D", "", number)[-10:]


@dataclass
class CrmServer:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # contract -> the CRM's record
    delays: dict[str, float] = field(default_factory=dict)  # last 10 digits -> seconds before answering
    failures: dict[str, int] = field(default_factory=dict)  # last 10 digits -> HTTP status to answer with
    empty_not_404: bool = False  # answer a number nobody has with an empty list, as some CRMs do, not a 404
    requests: list[str] = field(default_factory=list)  # the path of every phone search, in order
    answered: list[tuple[str, float]] = field(default_factory=list)  # (last 10 digits, monotonic time) when done
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        app = Starlette(routes=[Route("/api/phones/{number}", self._search), Route("/health", self._health)])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="crm-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def source(self, **overrides: Any) -> dict[str, Any]:
        """The ``http`` lookup source settings that read this CRM."""
        return {"kind": "http", "name": "crm", "url": self.url + "/api/phones/{e164}",
                "headers": {"Authorization": f"Bearer {TOKEN}"}, "records": "customers",
                "fields": {"id": "contract", "holder": "join(' ', [first_name, last_name])", "status": "state",
                           "crm_url": "link", "phones": "phones"},
                "health_url": self.url + "/health", **overrides}

    def add(self, contract: str, first_name: str, last_name: str, *phones: str, state: str = "Active") -> None:
        self.customers[contract] = {"contract": contract, "first_name": first_name, "last_name": last_name,
                                    "state": state, "phones": list(phones),
                                    "link": f"https://crm.example/customers/{contract}"}

    def start(self) -> CrmServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the CRM server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def reset(self) -> None:
        for collection in (self.customers, self.delays, self.failures):
            collection.clear()
        self.requests.clear()
        self.answered.clear()
        self.empty_not_404 = False

    async def _search(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        digits = _last10(request.path_params["number"])
        self.requests.append(request.scope["raw_path"].decode())  # as sent, still URL-encoded
        try:
            if digits in self.delays:
                await asyncio.sleep(self.delays[digits])
            if digits in self.failures:
                return PlainTextResponse("Internal Server Error", status_code=self.failures[digits])
            found = [c for c in self.customers.values() if any(_last10(p) == digits for p in c["phones"])]
            if found or self.empty_not_404:
                return JSONResponse({"customers": found})
            return JSONResponse({"error": "not found"}, 404)
        finally:
            self.answered.append((digits, time.monotonic()))

    async def _health(self, _request: Request) -> Response:
        return PlainTextResponse("ok")

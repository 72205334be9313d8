"""The PBX's repeated lookups answered before FastAPI: memory, pre-serialized bytes, the settings' keys.

``GET /api/v1/lookup`` is most of the API's traffic: one or more per call, the same numbers again and again. The
route's answer for a number this process remembers (``LocalCardCache``: kept only while it hears every change)
is the same bytes each time, yet FastAPI solves the route's dependency graph, validates the query and serializes
the card per request. This ASGI middleware answers such a request itself, when everything about it is the plain
case: the settings' PBX or admin key (``Authorization: Bearer``, or the PBX's key as ``?api_key=``), compared
in constant time; only ``number``, ``uniqueid`` and ``api_key``, each once and within the route's lengths; a
valid number the memory holds; no ``Origin`` (CORS stays FastAPI's). Anything else (another credential, a bad
key, a bad number, a miss, a query the route would refuse) goes to the route unchanged, so the contract (OpenAPI,
errors and their 4xx, the budget) is the route's, and the answer here is byte for byte the route's
(tests/integration/test_lookup_fast_path.py).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from callercard import phone
from callercard.errors import InvalidInput
from callercard.lookup.cards import Card
from callercard.lookup.local_cache import LocalCardCache
from callercard.settings import Settings

log = logging.getLogger(__name__)

PATH = "/api/v1/lookup"
# The route's query parameters and their max_length (callercard/lookup/http.py, callercard/api/auth.py).
_LIMITS = {"number": 64, "uniqueid": 64, "api_key": 256}
_HEADERS = [(b"content-type", b"application/json")]
_REMEMBERED_BODIES = 4096

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class LookupFastPath:
    """ASGI middleware; ``parts`` gives the settings and the memory once the app has started (None before)."""

    def __init__(self, app: Asgi, *, parts: Callable[[], tuple[Settings, LocalCardCache] | None]) -> None:
        self.app = app
        self._parts = parts
        self._keys: tuple[bytes, bytes] | None = None  # (admin, pbx), read once from the settings
        # The last card serialized per number as asked: the memory hands out the same Card object until it
        # changes, so an identity check says whether these bytes are still its answer.
        self._bodies: dict[str, tuple[Card, bytes]] = {}
        self.answered = 0  # requests answered here (the bench and the tests read it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            body = self._answer(scope)
            if body is not None:
                self.answered += 1
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> bytes | None:
        parts = self._parts()
        if parts is None:
            return None
        settings, memory = parts
        query = self._query(scope)
        if query is None or "number" not in query or not self._allowed(scope, query, settings):
            return None
        raw = query["number"]
        try:
            number = phone.parse_input(raw, field="number", region=settings.default_region,
                                       area_code=settings.default_area_code)
        except InvalidInput:
            return None  # the route's 422
        if number.e164 is None:
            return None
        card = memory.get(number.e164)
        if card is None:
            return None
        remembered = self._bodies.get(raw)
        if remembered is not None and remembered[0] is card:
            return remembered[1]
        # As the route answers it: the card says the number as this request gave it.
        answer = card if card.number == raw else card.model_copy(update={"number": raw})
        body = answer.model_dump_json().encode()
        if len(self._bodies) >= _REMEMBERED_BODIES:
            self._bodies.clear()
        self._bodies[raw] = (card, body)
        return body

    def _query(self, scope: Scope) -> dict[str, str] | None:
        """The query when it is the plain case: known parameters, each once, within the route's lengths."""
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        query = dict(pairs)
        if len(query) != len(pairs):
            return None
        for name, value in query.items():
            limit = _LIMITS.get(name)
            if limit is None or len(value) > limit:
                return None
        return query

    def _allowed(self, scope: Scope, query: dict[str, str], settings: Settings) -> bool:
        if self._keys is None:
            self._keys = (settings.admin_api_key.get_secret_value().encode(),
                          settings.pbx_api_key.get_secret_value().encode())
        admin, pbx = self._keys
        authorization = None
        for name, value in scope["headers"]:
            if name == b"origin":
                return False  # CORS: the app's middleware answers it
            if name == b"authorization":
                authorization = value
        if authorization is not None:
            scheme, _, presented = authorization.partition(b" ")
            if scheme.lower() != b"bearer" or not presented:
                return False
            return hmac.compare_digest(presented, pbx) or hmac.compare_digest(presented, admin)
        key = query.get("api_key", "")
        return bool(key) and hmac.compare_digest(key.encode(), pbx)

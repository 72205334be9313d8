"""The PBX's repeated lookups answered before FastAPI: memory, pre-serialized bytes, the settings' keys.

``GET /api/v1/lookup`` and ``GET /api/v1/lookup/name`` (the shipped dialplan's, once per call) are most of the
API's traffic, the same numbers again and again. The routes' answer for a number this process remembers
(``LocalCardCache``: kept only while it hears every change) is the same bytes each time, yet FastAPI solves the
route's dependency graph, validates the query and serializes the card per request. This ASGI middleware
answers such a request itself, when everything about it is the plain case: the settings' PBX or admin key
(``Authorization: Bearer``, or the PBX's key as ``?api_key=``), compared in constant time; only ``number``,
``uniqueid`` and ``api_key`` (and the name's ``ascii`` and ``max_length``, plainly spelled), each once and within
the route's limits; a valid number the memory holds; no ``Origin`` (CORS stays FastAPI's). Anything else
(another credential, a bad key, a bad number, a miss, a query the route would refuse) goes to the route
unchanged, so the contract (OpenAPI, errors and their 4xx, the budget) is the route's, and the answer here is
byte for byte the route's (tests/integration/test_lookup_fast_path.py).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from callercard import metrics, phone
from callercard.errors import InvalidInput
from callercard.lookup import names
from callercard.lookup.cards import Card, phone_display_name
from callercard.lookup.local_cache import LocalCardCache
from callercard.settings import Settings

log = logging.getLogger(__name__)

PATH = "/api/v1/lookup"
NAME_PATH = "/api/v1/lookup/name"
# The routes' query parameters and their max_length (callercard/lookup/http.py, callercard/api/auth.py).
_LIMITS = {"number": 64, "uniqueid": 64, "api_key": 256}
_NAME_LIMITS = {**_LIMITS, "ascii": 5, "max_length": 3}
_TYPES = {PATH: b"application/json", NAME_PATH: b"text/plain; charset=utf-8"}
_ENDPOINTS = {PATH: "card", NAME_PATH: "name"}  # the lookup metrics' labels, as the routes give them
# The name route's options as FastAPI reads them, in their plain spellings (anything else: the route decides).
_BOOLEANS = {"0": False, "false": False, "1": True, "true": True}
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
        # The last answer serialized per request (path, number as asked, name options): the memory hands out the
        # same Card object until it changes, so an identity check says whether these bytes are still its answer.
        self._bodies: dict[tuple[str, str, bool, int | None], tuple[Card, bytes]] = {}
        self.answered = 0  # requests answered here (the bench and the tests read it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else None
        if path in _TYPES and scope["method"] == "GET":
            started = time.monotonic()
            body = self._answer(scope, path)
            if body is not None:
                self.answered += 1
                # As the route counts its lookups (a remembered card is never degraded: no budget miss).
                metrics.LOOKUP_SECONDS.labels(_ENDPOINTS[path]).observe(time.monotonic() - started)
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", _TYPES[path])]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope, path: str) -> bytes | None:
        parts = self._parts()
        if parts is None:
            return None
        settings, memory = parts
        query = self._query(scope, _NAME_LIMITS if path == NAME_PATH else _LIMITS)
        if query is None or "number" not in query or not self._allowed(scope, query, settings):
            return None
        options = _name_options(query)
        if options is None:
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
        key = (path, raw, *options)
        remembered = self._bodies.get(key)
        if remembered is not None and remembered[0] is card:
            return remembered[1]
        if path == NAME_PATH:  # as the name route answers it (a remembered card is never degraded)
            ascii_only, max_length = options
            body = names.for_phone_display(phone_display_name(card), ascii_only=ascii_only,
                                           max_length=max_length).encode()
        else:  # as the route answers it: the card says the number as this request gave it
            answer = card if card.number == raw else card.model_copy(update={"number": raw})
            body = answer.model_dump_json().encode()
        if len(self._bodies) >= _REMEMBERED_BODIES:
            self._bodies.clear()
        self._bodies[key] = (card, body)
        return body

    def _query(self, scope: Scope, limits: dict[str, int]) -> dict[str, str] | None:
        """The query when it is the plain case: known parameters, each once, within the route's lengths."""
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        query = dict(pairs)
        if len(query) != len(pairs):
            return None
        for name, value in query.items():
            limit = limits.get(name)
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


def _name_options(query: dict[str, str]) -> tuple[bool, int | None] | None:
    """``ascii`` and ``max_length`` as the name route reads them, when plainly spelled (None: leave it to it)."""
    ascii_only = _BOOLEANS.get(query.get("ascii", "0").lower())
    max_length = query.get("max_length")
    if ascii_only is None:
        return None
    if max_length is None:
        return ascii_only, None
    if not max_length.isdigit() or not 1 <= int(max_length) <= 200:
        return None
    return ascii_only, int(max_length)

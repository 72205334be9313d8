"""The lookup fast path (callercard/lookup/fast_path.py) answers the plain case from memory and hands every other
request to the route untouched. The route here is an ASGI app that records what reached it; the byte-for-byte
agreement with the real route is tests/integration/test_lookup_fast_path.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callercard import phone
from callercard.lookup.cards import build_card
from callercard.lookup.fast_path import LookupFastPath
from callercard.lookup.local_cache import LocalCardCache
from callercard.lookup.sources import FoundAccount
from callercard.settings import Settings

PBX, ADMIN = "p" * 24, "a" * 24
SETTINGS = Settings(**dict.fromkeys(("centrifugo_api_key", "centrifugo_token_secret", "ami_secret"), "s" * 20),
                    pbx_api_key=PBX, admin_api_key=ADMIN)  # type: ignore[arg-type]
E164 = "+74951234567"


class Route:
    """Stands for the FastAPI app behind the middleware: records the requests that reach it."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.reached.append(scope["query_string"].decode())
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"route"})


def make(*, listening: bool = True) -> tuple[LookupFastPath, Route, LocalCardCache]:
    memory = LocalCardCache(max_entries=10, ttl_seconds=60)
    if listening:
        memory.start_listening()
    number = phone.normalize(E164)
    card = build_card(number, [FoundAccount(id="A-1", holder="Иван Петров")])
    memory.put(E164, card, ticket=memory.ticket())
    route = Route()
    return LookupFastPath(route, parts=lambda: (SETTINGS, memory)), route, memory


async def get(app: LookupFastPath, query: str, headers: dict[str, str] | None = None,
              path: str = "/api/v1/lookup") -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": query.encode(),
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    await app(scope, None, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize(("query", "headers"), [
    ("number=%2B74951234567", {"Authorization": f"Bearer {PBX}"}),
    ("number=%2B74951234567&uniqueid=1700000000.1", {"Authorization": f"bearer {ADMIN}"}),
    (f"number=84951234567&api_key={PBX}", {}),
])
async def test_the_plain_case_is_answered_from_memory(query: str, headers: dict[str, str]) -> None:
    app, route, memory = make()
    status, body = await get(app, query, headers)
    asked = "84951234567" if "api_key" in query else E164
    expected = memory.get(E164).model_copy(update={"number": asked})  # type: ignore[union-attr]
    assert (status, json.loads(body), route.reached) == (200, expected.model_dump(mode="json"), [])
    assert json.loads(body)["display_name"] == "Иван Петров"
    assert app.answered == 1


@pytest.mark.parametrize(("query", "headers"), [
    ("number=%2B74951234567", {}),  # no credential: the route's 401
    ("number=%2B74951234567", {"Authorization": "Bearer wrong"}),
    (f"number=%2B74951234567&api_key={ADMIN}", {}),  # an admin's key in a URL: the route's 401
    ("number=%2B74951234567", {"Authorization": f"Basic {PBX}"}),
    ("number=%2B74951234567&number=%2B74951234568", {"Authorization": f"Bearer {PBX}"}),
    ("number=%2B74951234567&extra=1", {"Authorization": f"Bearer {PBX}"}),
    ("number=%2B74951234567&uniqueid=" + "1" * 65, {"Authorization": f"Bearer {PBX}"}),  # the route's 422
    ("number=12ab", {"Authorization": f"Bearer {PBX}"}),  # invalid: the route's 422 naming the field
    ("number=anonymous", {"Authorization": f"Bearer {PBX}"}),
    ("number=%2B74957654321", {"Authorization": f"Bearer {PBX}"}),  # not in memory
    ("", {"Authorization": f"Bearer {PBX}"}),
    ("number=%2B74951234567", {"Authorization": f"Bearer {PBX}", "Origin": "https://desk.example"}),
])
async def test_everything_else_goes_to_the_route(query: str, headers: dict[str, str]) -> None:
    app, route, _ = make()
    assert await get(app, query, headers) == (299, b"route")
    assert (route.reached, app.answered) == ([query], 0)


async def test_other_routes_and_a_memory_not_listening_go_to_the_route() -> None:
    app, route, _ = make(listening=False)
    auth = {"Authorization": f"Bearer {PBX}"}
    assert await get(app, "number=%2B74951234567", auth) == (299, b"route")
    app, route, _ = make()
    assert await get(app, "number=%2B74951234567", auth, path="/api/v1/lookups") == (299, b"route")
    assert route.reached == ["number=%2B74951234567"]


@pytest.mark.parametrize(("query", "expected"), [
    ("number=%2B74951234567", "Иван Петров".encode()),
    ("number=%2B74951234567&ascii=1&max_length=24&uniqueid=1.1", b"Ivan Petrov"),
    ("number=%2B74951234567&ascii=true&max_length=4", b"Ivan"),
    ("number=%2B74951234567&ascii=0", "Иван Петров".encode()),
])
async def test_the_name_route_plain_cases_are_answered_from_memory(query: str, expected: bytes) -> None:
    app, route, _ = make()
    assert await get(app, query + f"&api_key={PBX}", path="/api/v1/lookup/name") == (200, expected)
    assert route.reached == []


@pytest.mark.parametrize("options", ["ascii=maybe", "ascii=", "max_length=0", "max_length=201", "max_length=x",
                                     "ascii=1&ascii=0"])
async def test_the_name_routes_other_options_are_left_to_it(options: str) -> None:
    app, route, _ = make()
    query = f"number=%2B74951234567&{options}&api_key={PBX}"
    assert await get(app, query, path="/api/v1/lookup/name") == (299, b"route")
    assert route.reached == [query]


async def test_a_changed_card_is_serialized_afresh() -> None:
    app, _, memory = make()
    auth = {"Authorization": f"Bearer {PBX}"}
    _, first = await get(app, "number=%2B74951234567", auth)
    changed = build_card(phone.normalize(E164), [FoundAccount(id="A-1", holder="Анна Петрова")])
    memory.forget([E164])
    memory.put(E164, changed, ticket=memory.ticket())
    _, second = await get(app, "number=%2B74951234567", auth)
    assert (json.loads(first)["display_name"], json.loads(second)["display_name"]) == ("Иван Петров", "Анна Петрова")
    memory.forget([E164])
    assert (await get(app, "number=%2B74951234567", auth))[0] == 299

"""Every route in the OpenAPI schema: no credential → 401, a wrong role → 403, a right role → 2xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from callercard import redis_state
from callercard.calls import store as calls_store
from callercard.calls.redis_screens import Screens
from callercard.calls.state import CardEvent, Notice
from callercard.keys import store as keys_store
from callercard.settings import Settings
from tests.factories import account
from tests.support.pbx import recorded_pbx

ROLES = ("pbx", "agent", "supervisor", "admin", "crm")
PUBLIC = frozenset(ROLES) | {"none"}
NUMBER = "84951234567"  # on the do-not-call list in these tests
CALLBACK_NUMBER = "84957654321"

# (method, path template, request, roles allowed)
ROUTES: list[tuple[str, str, dict[str, Any], frozenset[str]]] = [
    ("GET", "/status", {}, PUBLIC),
    ("GET", "/ping", {}, PUBLIC),
    ("GET", "/health/live", {}, PUBLIC),
    ("GET", "/health/ready", {}, PUBLIC),
    ("GET", "/metrics", {}, PUBLIC),
    ("GET", "/api/v1/lookup", {"params": {"number": NUMBER}}, frozenset({"pbx", "admin"})),
    ("GET", "/api/v1/lookup/name", {"params": {"number": NUMBER}}, frozenset({"pbx", "admin"})),
    ("POST", "/api/v1/numbers/{number}:changed", {}, frozenset({"crm", "admin"})),
    ("POST", "/api/v1/numbers:changed", {"json": {"numbers": [NUMBER]}}, frozenset({"crm", "admin"})),
    ("PUT", "/api/v1/customers/{account_id}", {"json": {"holder": "Ivan Petrov"}}, frozenset({"admin"})),
    ("GET", "/api/v1/customers/{account_id}", {}, frozenset({"admin"})),
    ("DELETE", "/api/v1/customers/{account_id}", {}, frozenset({"admin"})),
    ("POST", "/api/v1/customers:bulk", {"json": []}, frozenset({"admin"})),
    ("PUT", "/api/v1/agents/{agent_id}", {"json": {"name": "Anna Smirnova"}}, frozenset({"admin"})),
    ("GET", "/api/v1/agents", {}, frozenset({"admin"})),
    ("GET", "/api/v1/agents/{agent_id}", {}, frozenset({"admin"})),
    ("DELETE", "/api/v1/agents/{agent_id}", {}, frozenset({"admin"})),
    ("POST", "/api/v1/agents/{agent_id}/token", {}, frozenset({"agent", "admin"})),
    ("GET", "/api/v1/calls", {}, frozenset({"agent", "admin"})),
    ("GET", "/api/v1/calls/{call_id}", {}, frozenset({"agent", "admin"})),
    ("POST", "/api/v1/pbx/events", {"json": {"event": "newCall", "callId": "access-1", "from": NUMBER}},
     frozenset({"pbx", "admin"})),
    ("GET", "/api/v1/dnc/check", {"params": {"number": NUMBER}}, frozenset({"pbx", "agent", "admin"})),
    ("GET", "/api/v1/dnc/export", {}, frozenset({"admin"})),
    ("GET", "/api/v1/dnc", {}, frozenset({"admin"})),
    ("PUT", "/api/v1/dnc/{number}", {"json": {"reason": "abroad"}}, frozenset({"agent", "admin"})),
    ("GET", "/api/v1/dnc/{number}", {}, frozenset({"agent", "admin"})),
    ("DELETE", "/api/v1/dnc/{number}", {}, frozenset({"admin"})),
    ("GET", "/api/v1/dnc/{number}/history", {}, frozenset({"admin"})),
    ("GET", "/api/v1/agents/{agent_id}/screen", {}, frozenset({"agent", "admin"})),
    ("POST", "/api/v1/agents/{agent_id}/calls/{call_id}/decline", {}, frozenset({"agent", "admin"})),
    ("GET", "/api/v1/agents/{agent_id}/lines", {}, frozenset({"agent", "admin"})),
    ("PUT", "/api/v1/agents/{agent_id}/line", {"json": {"line": 1}}, frozenset({"agent", "admin"})),
    ("GET", "/api/v1/callbacks", {}, frozenset({"agent", "admin"})),
    ("POST", "/api/v1/callbacks/{number}/claim", {"json": {"agent_id": "anna"}, "path": {"number": CALLBACK_NUMBER}},
     frozenset({"agent", "admin"})),
    ("DELETE", "/api/v1/callbacks/{number}/claim", {"path": {"number": CALLBACK_NUMBER}},
     frozenset({"agent", "admin"})),
    ("POST", "/api/v1/callbacks/{number}/call", {"json": {"agent_id": "anna"}, "path": {"number": CALLBACK_NUMBER}},
     frozenset({"agent", "admin"})),
    ("POST", "/api/v1/callbacks:done", {"json": {"numbers": [CALLBACK_NUMBER]}}, frozenset({"agent", "admin"})),
    ("PUT", "/api/v1/calls/{call_id}/speaker", {"json": {"name": "Ivan Petrov"}, "path": {"call_id": "1.2"}},
     frozenset({"agent", "admin"})),
    ("DELETE", "/api/v1/calls/{call_id}/speaker", {"path": {"call_id": "1.2"}}, frozenset({"agent", "admin"})),
    ("GET", "/api/v1/numbers/{number}/names", {}, frozenset({"agent", "admin"})),
    ("GET", "/api/v1/numbers/{number}/names/history", {}, frozenset({"admin"})),
    ("POST", "/api/v1/agents/{agent_id}/dial", {"json": {"number": CALLBACK_NUMBER}}, frozenset({"agent", "admin"})),
    ("POST", "/api/v1/webhooks", {"json": {"url": "https://hooks.example/calls", "events": ["call.ended"]}},
     frozenset({"admin"})),
    ("GET", "/api/v1/webhooks", {}, frozenset({"admin"})),
    ("GET", "/api/v1/webhooks/{endpoint_id}", {}, frozenset({"admin"})),
    ("PUT", "/api/v1/webhooks/{endpoint_id}", {"json": {"url": "https://hooks.example/x", "events": ["dnc.changed"]}},
     frozenset({"admin"})),
    ("DELETE", "/api/v1/webhooks/{endpoint_id}", {}, frozenset({"admin"})),
    ("GET", "/api/v1/webhooks/{endpoint_id}/deliveries", {}, frozenset({"admin"})),
    ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/retry", {}, frozenset({"admin"})),
    ("GET", "/api/v1/wallboard", {}, frozenset({"supervisor", "admin"})),
    ("POST", "/api/v1/wallboard/token", {}, frozenset({"supervisor", "admin"})),
    ("GET", "/widget/callercard.js", {}, PUBLIC),
]
PATH_VALUES = {"account_id": "C-1", "agent_id": "anna", "call_id": "1.1", "number": NUMBER,
               "endpoint_id": "wh_access", "delivery_id": "dlv_access"}
ENDPOINT = {"_id": "wh_access", "url": "https://hooks.example/calls", "events": ["call.ended"], "description": "",
            "enabled": False, "secret": "whsec_access-test-secret", "created_at": datetime(2026, 11, 22, tzinfo=UTC),
            "created_by": "admin"}
FAILED_DELIVERY = {"_id": "dlv_access", "endpoint_id": "wh_access", "event_id": "evt_access", "event": "call.ended",
                   "sequence": 1, "body": "{}", "status": "failed", "attempts": 10, "last_status": 500,
                   "last_error": "HTTP 500", "created_at": datetime(2026, 11, 22, tzinfo=UTC), "next_attempt_at": None,
                   "delivered_at": None}


MISSED_CALL = {
    "call_id": "1.1", "caller": {"number": CALLBACK_NUMBER, "e164": "+74957654321", "kind": "e164"},
    "direction": "inbound", "queues": ["support"], "agents": [{"agent_id": "anna"}], "answered_by": [],
    "transfers": 0, "entered_at": "2026-11-22T10:00:00+00:00", "first_ring_at": None, "answered_at": None,
    "ended_at": None, "wait_seconds": 1.0, "talk_seconds": 0.0, "outcome": "missed_abandoned_while_ringing",
    "callback": {"needed": True, "done": False}}


ANSWERED_CALL = {**MISSED_CALL, "call_id": "1.2", "caller": {"number": NUMBER, "e164": "+74951234567", "kind": "e164"},
                 "answered_by": ["anna"], "outcome": "answered", "entered_at": "2026-11-22T09:00:00+00:00",
                 "callback": {"needed": False, "done": False}}


async def prepare(db: AsyncDatabase, route: tuple[str, str, dict[str, Any], frozenset[str]]) -> None:
    """What each role's request needs: an open missed call to call back, a claim to release."""
    method, path = route[0], route[1]
    if path.startswith("/api/v1/callbacks/{number}/"):
        await db["calls"].update_one({"_id": "1.1"}, {"$set": {"callback": {"needed": True, "done": False}}})
        await db["callback_claims"].delete_many({})
    if path.startswith("/api/v1/webhooks"):  # a disabled endpoint (nothing is sent) and a failed delivery
        await db["webhook_endpoints"].replace_one({"_id": "wh_access"}, ENDPOINT, upsert=True)
        await db["webhook_deliveries"].replace_one({"_id": "dlv_access"}, FAILED_DELIVERY, upsert=True)
    if (method, path) == ("DELETE", "/api/v1/callbacks/{number}/claim"):
        await db["callback_claims"].insert_one({"_id": "+74957654321", "agent_id": "anna", "agent_name": "Anna",
                                                "by": "agent:anna", "at": datetime.now(UTC),
                                                "until": datetime.now(UTC) + timedelta(minutes=5)})


@pytest.fixture
async def credentials(settings: Settings, db: AsyncDatabase,
                      admin_api: httpx.AsyncClient) -> AsyncIterator[dict[str, str]]:
    """Seeded data every route can act on, a PBX to take its actions, and one credential per role (the agent's
    is a stored key)."""
    await admin_api.put("/api/v1/customers/C-1", json={k: v for k, v in account("C-1", "Ivan Petrov", NUMBER).items()
                                                       if k != "id"})
    await admin_api.put("/api/v1/agents/anna", json={"name": "Anna Smirnova", "devices": ["PJSIP/201"],
                                                     "lines": ["support"]})
    await admin_api.put(f"/api/v1/dnc/{NUMBER}", json={"reason": "asked_not_to_call"})
    await calls_store.save(db, MISSED_CALL)
    await calls_store.save(db, ANSWERED_CALL)
    redis_client = redis_state.connect(settings)
    ringing = Notice("anna", CardEvent.RINGING, "1.1", "support", datetime.now(UTC), channel="PJSIP/201-00000001")
    await Screens(redis_client).update(ringing, direction="inbound", card=None)
    await redis_client.aclose()
    _, agent_key = await keys_store.create(db, role="agent", name="anna", agent_id="anna")
    _, crm_key = await keys_store.create(db, role="crm", name="the CRM")
    _, supervisor_key = await keys_store.create(db, role="supervisor", name="olga")
    async with recorded_pbx(settings, "member_login_logout"):
        yield {"admin": settings.admin_api_key.get_secret_value(), "pbx": settings.pbx_api_key.get_secret_value(),
               "agent": agent_key, "crm": crm_key, "supervisor": supervisor_key}


def route_request(template: str, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A route's URL with its path values filled in (``request["path"]`` overrides ``PATH_VALUES``), and the rest
    of ``request`` as httpx's keyword arguments."""
    values = {**PATH_VALUES, **request.get("path", {})}
    return template.format(**values), {k: v for k, v in request.items() if k != "path"}


async def call(api_url: str, route: tuple[str, str, dict[str, Any], frozenset[str]],
               credential: str | None) -> httpx.Response:
    method, template, request, _ = route
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    url, kwargs = route_request(template, request)
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=10) as client:
        return await client.request(method, url, **kwargs)


def test_the_table_covers_every_route_in_the_openapi_schema(api_url: str) -> None:
    schema = httpx.get(f"{api_url}/openapi.json").json()
    operations = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert operations == {(method, path) for method, path, *_ in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, *_ in ROUTES])
async def test_each_route_admits_exactly_its_roles(api_url: str, credentials: dict[str, str], db: AsyncDatabase,
                                                  route: tuple[str, str, dict[str, Any], frozenset[str]]) -> None:
    allowed = route[3]
    if "none" not in allowed:
        missing = await call(api_url, route, None)
        assert missing.status_code == 401, missing.text
        assert (await call(api_url, route, "cck_not-a-real-key")).status_code == 401
    for role in ROLES:
        if role not in allowed:
            response = await call(api_url, route, credentials[role])
            assert response.status_code == 403, (role, response.text)
    for role in sorted(allowed - {"none"}, key=lambda r: r == "admin"):  # admin last: it may delete what others read
        await prepare(db, route)
        response = await call(api_url, route, credentials[role])
        if route[1] == "/status":  # public; 503 there reports health (no listener in this test), not access
            assert response.status_code in (200, 503), (role, response.status_code)
            continue
        assert 200 <= response.status_code < 300, (role, response.status_code, response.text)


async def test_an_agent_gets_only_their_own_token_and_calls(api_url: str, credentials: dict[str, str],
                                                            admin_api: httpx.AsyncClient) -> None:
    await admin_api.put("/api/v1/agents/boris", json={"name": "Boris Ivanov"})
    headers = {"Authorization": f"Bearer {credentials['agent']}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers) as anna:
        assert (await anna.post("/api/v1/agents/anna/token")).json()["channel"] == "agent:#anna"
        assert (await anna.post("/api/v1/agents/boris/token")).status_code == 403
        assert [c["call_id"] for c in (await anna.get("/api/v1/calls")).json()] == ["1.1", "1.2"]
        # Asking for another agent's calls still returns only her own.
        assert [c["call_id"] for c in (await anna.get("/api/v1/calls", params={"agent": "boris"})).json()] == [
            "1.1", "1.2"]


async def test_a_revoked_key_is_refused(api_url: str, db: AsyncDatabase, credentials: dict[str, str]) -> None:
    key_id, key = await keys_store.create(db, role="admin", name="ops")
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}) as ops:
        assert (await ops.get("/api/v1/agents")).status_code == 200
        assert await keys_store.revoke(db, key_id)
        assert (await ops.get("/api/v1/agents")).status_code == 401


PBX_ROUTES = frozenset({"/api/v1/lookup", "/api/v1/lookup/name", "/api/v1/dnc/check", "/api/v1/pbx/events"})


@pytest.mark.parametrize("route", [r for r in ROUTES if "none" not in r[3]], ids=[f"{m} {p}" for m, p, _, a in ROUTES
                                                                                 if "none" not in a])
async def test_a_key_in_the_url_is_only_for_the_pbx_on_its_own_routes(
        api_url: str, credentials: dict[str, str], route: tuple[str, str, dict[str, Any], frozenset[str]]) -> None:
    method, template, request, _ = route
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        for role in ROLES:
            params = {**request.get("params", {}), "api_key": credentials[role]}
            url, kwargs = route_request(template, request)
            response = await client.request(method, url, **{**kwargs, "params": params})
            if role == "pbx" and template in PBX_ROUTES:
                assert 200 <= response.status_code < 300, (role, response.status_code, response.text)
                continue
            assert response.status_code == 401, (role, response.status_code, response.text)
            message = response.json()["message"]
            if template in PBX_ROUTES:
                assert message == (f"'?api_key=' is only for the PBX's key: {role}s send 'Authorization: Bearer "
                                   "<key>' (a key in a URL ends up in logs)"), message
            else:
                assert message == ("'?api_key=' is accepted only on the PBX's routes (lookup, lookup/name, "
                                   "dnc/check, pbx/events); send 'Authorization: Bearer <key>'"), message

"""The demo directory (agents Anna, Boris and Vera; the demo customers), put through the admin API as an admin would."""

from __future__ import annotations

import csv
from typing import Any

import httpx

from callercard.customers.importer import csv_row_to_account
from tests.support.processes import ROOT
from tests.support.scenarios import DEMO_AGENTS

DEMO_CUSTOMERS = ROOT / "callercard" / "demo" / "customers.csv"


async def put_demo_directory(admin_api: httpx.AsyncClient) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every demo agent, then every demo customer in one bulk write; returns (the rows sent, the bulk result)."""
    for agent_id, body in DEMO_AGENTS.items():
        assert (await admin_api.put(f"/api/v1/agents/{agent_id}", json=body)).status_code in (200, 201)
    with DEMO_CUSTOMERS.open() as handle:
        rows = [csv_row_to_account(row) for row in csv.DictReader(handle)]
    return rows, (await admin_api.post("/api/v1/customers:bulk", json=rows)).json()

"""A CRM's HTTP API over the generated base (``bench.customers``), for ``bench.sources``: the same JSON as the tests'
CRM (``tests/support/crm.py``), with its records indexed by the last 10 digits of their numbers, which the CRM keeps
as people typed them (``8 (910) 000-00-01``, ``+7 950 0000001``). Answers from memory, so what ``bench.sources``
measures is callercard's cost of asking over HTTP, not a CRM's own.

    python -m bench.crm_server --accounts 1000000 --port 8701
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bench import customers


def typed(e164: str, index: int) -> str:
    """``e164`` the way a person might have typed it into the CRM (one of three formats)."""
    national = e164[2:]
    if index % 3 == 0:
        return f"8 ({national[:3]}) {national[3:6]}-{national[6:8]}-{national[8:]}"
    if index % 3 == 1:
        return f"+7 {national[:3]} {national[3:]}"
    return "8" + national


def build(accounts: int) -> dict[str, list[dict[str, Any]]]:
    by_digits: dict[str, list[dict[str, Any]]] = {}
    for i in range(accounts):
        first, last = customers.holder(i).split(" ", 1)
        record = {"contract": customers.account_id(i), "first_name": first, "last_name": last,
                  "state": "Active" if i % 7 else "Disconnected", "link": f"https://crm.example/customers/{i}",
                  "phones": [typed(customers.contact_number(i), i), typed(customers.sms_number(i), i + 1)]}
        for number in (customers.contact_number(i), customers.sms_number(i)):
            by_digits.setdefault(number[-10:], []).append(record)
    return by_digits


def app(by_digits: dict[str, list[dict[str, Any]]]) -> Starlette:
    async def search(request: Request) -> Response:
        digits = "".join(c for c in request.path_params["number"] if c.isdigit())[-10:]
        found = by_digits.get(digits)
        return JSONResponse({"customers": found}) if found else JSONResponse({"error": "not found"}, 404)

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/api/phones/{number}", search), Route("/health", health)])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.crm_server", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app(build(args.accounts)), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

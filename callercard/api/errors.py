"""Translate domain, validation and outage errors into JSON responses that name the field or the system.

The one place library errors of the systems the API talks to become a domain error: a ``PyMongoError``,
``RedisError`` or ``CentError`` that reaches a route's edge is answered as ``Unavailable`` (503, which system,
retry), never as a bare 500. The PBX's AMI errors are translated by their adapter (``asterisk/actions.py``).
"""

from __future__ import annotations

import logging

from cent.exceptions import CentError
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from callercard.errors import CallercardError, StoreUnavailable, Unavailable

log = logging.getLogger(__name__)


def _error_body(error_id: str, message: str, details: dict[str, object]) -> dict[str, object]:
    return {"error_id": error_id, "message": message, "details": details}


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, CallercardError)
    if error.status_code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, error.message)
    headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    if isinstance(error, Unavailable):
        headers = {"Retry-After": "5"}
    return JSONResponse(jsonable_encoder(_error_body(error.error_id, error.message, dict(error.details))),
                        status_code=error.status_code, headers=headers)


def unavailable(error: Exception) -> Unavailable:
    """The domain error for a library error of a system the API depends on."""
    detail = f"{type(error).__name__}: {error}"[:300]
    if isinstance(error, PyMongoError):
        return StoreUnavailable("MongoDB did not answer in time or refused; retry shortly", reason=detail)
    if isinstance(error, RedisError):
        return Unavailable("Redis did not answer in time or refused; retry shortly", dependency="redis",
                           reason=detail)
    return Unavailable("Centrifugo did not answer in time or refused; retry shortly", dependency="centrifugo",
                       reason=detail)


async def _outage(request: Request, error: Exception) -> JSONResponse:
    return await _domain_error(request, unavailable(error))


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")]
        problems.append({"field": ".".join(location) or "body", "message": item.get("msg", "invalid")})
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(_error_body("invalid-input", message, {"errors": problems}), status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(CallercardError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for outage in (PyMongoError, RedisError, CentError):
        app.add_exception_handler(outage, _outage)

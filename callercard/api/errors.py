"""Translate domain and validation errors into JSON responses that name the field."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from callercard.errors import CallercardError

log = logging.getLogger(__name__)


def _error_body(error_id: str, message: str, details: dict[str, object]) -> dict[str, object]:
    return {"error_id": error_id, "message": message, "details": details}


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, CallercardError)
    if error.status_code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, error.message)
    headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    return JSONResponse(jsonable_encoder(_error_body(error.error_id, error.message, dict(error.details))),
                        status_code=error.status_code, headers=headers)


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

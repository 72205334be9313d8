"""Domain errors. Each carries the HTTP status, a stable error id and details; the API translates them in one place."""

from __future__ import annotations

from pydantic import ValidationError


class CallercardError(Exception):
    status_code = 500
    error_id = "internal-error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(CallercardError):
    status_code = 422
    error_id = "invalid-input"

    def __init__(self, field: str, message: str, **details: object) -> None:
        super().__init__(f"{field}: {message}", field=field, **details)
        self.field = field


class NotFound(CallercardError):
    status_code = 404
    error_id = "not-found"


class Unauthenticated(CallercardError):
    status_code = 401
    error_id = "unauthenticated"


class Forbidden(CallercardError):
    status_code = 403
    error_id = "forbidden"


class Unavailable(CallercardError):
    """A system callercard depends on did not answer in time or refused: 503, the request may be retried.

    The one error every outage becomes at the API's edge (``api/errors.py`` translates MongoDB's, Redis's and
    Centrifugo's library errors into it; ``asterisk/actions.py`` the PBX's). ``dependency`` names which system.
    """

    status_code = 503
    error_id = "unavailable"

    def __init__(self, message: str, *, dependency: str, **details: object) -> None:
        super().__init__(message, dependency=dependency, **details)
        self.dependency = dependency


class StoreUnavailable(Unavailable):
    """MongoDB did not answer in time or refused; callers degrade instead of failing where they can."""

    error_id = "store-unavailable"

    def __init__(self, message: str, *, dependency: str = "mongo", **details: object) -> None:
        super().__init__(message, dependency=dependency, **details)


def describe_validation_error(error: ValidationError) -> str:
    """The first problem of a pydantic error as ``field: message``, for import and bulk reports."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "row"
    return f"{where}: {first.get('msg', 'invalid')}"


class Conflict(CallercardError):
    """The request is valid but the current state does not allow it (not ringing, withheld number, ...)."""

    status_code = 409
    error_id = "conflict"


class PbxUnavailable(Unavailable):
    """The PBX's manager interface did not answer, or refused our login."""

    error_id = "pbx-unavailable"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message, dependency="pbx", **details)


class PbxRefused(CallercardError):
    """Asterisk answered an action with an error; ``message`` says it in the user's terms."""

    status_code = 409
    error_id = "pbx-refused"

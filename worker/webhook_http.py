"""The domain's ``WebhookTransport`` port over httpx: POST a delivery, answer its HTTP status.

TLS is always verified, against the system's CAs plus ``CALLERCARD_WEBHOOK_CA_FILE`` when set (an internal CA,
or the tests' own); redirects are not followed (a delivery goes where the admin registered it).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import httpx

from callercard.ports import DeliveryFailed
from callercard.settings import Settings


def _tls(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.webhook_ca_file:
        context.load_verify_locations(cafile=settings.webhook_ca_file)
    return context


class HttpTransport:
    """Implements ``callercard.ports.WebhookTransport``."""

    def __init__(self, settings: Settings) -> None:
        self._seconds = settings.webhook_timeout_seconds
        self._client = httpx.AsyncClient(verify=_tls(settings), timeout=settings.webhook_timeout_seconds,
                                         follow_redirects=False)

    async def post(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.TimeoutException as error:
            raise DeliveryFailed(f"no answer within {self._seconds:g} s ({type(error).__name__})") from error
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from error
        return response.status_code

    async def close(self) -> None:
        await self._client.aclose()

"""Several PBXs: their ids, call ids namespaced by PBX, and agents' devices that name their PBX. Pure.

A listener serves one PBX (``CALLERCARD_PBX_ID``). Two Asterisks number their calls independently, so their
Uniqueids and Linkedids may collide: every call id that leaves a listener or the HTTP event feed is
``<pbx>:<Linkedid>``, except on the PBX named ``default`` (the one PBX of a single-PBX setup), whose call ids
stay the bare Linkedid, as they were before several PBXs (existing records, screens and links keep working).

An agent's device may name its PBX (``pbx2:PJSIP/201``); a plain device (``PJSIP/201``) is on the default PBX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr

if TYPE_CHECKING:
    from callercard.settings import Settings

DEFAULT_PBX = "default"
PBX_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
_PBX_ID = re.compile(PBX_ID_PATTERN)
# A device with a PBX in front: ``pbx2:PJSIP/201``. Channel technologies never contain ':'.
_DEVICE = re.compile(r"^(?:(?P<pbx>[a-z0-9][a-z0-9_-]{0,31}):)?(?P<device>[A-Za-z0-9_]+/\S+)$")


def call_id(pbx: str, raw: str) -> str:
    """The call id callercard uses for the PBX's call ``raw`` (its Linkedid, or the HTTP feed's callId)."""
    return raw if pbx == DEFAULT_PBX else f"{pbx}:{raw}"


@dataclass(frozen=True, slots=True)
class PbxDevice:
    pbx: str
    device: str  # as the PBX names it: a channel name cut at its last '-'


def parse_device(spec: str) -> PbxDevice:
    """``pbx2:PJSIP/201`` → (pbx2, PJSIP/201); ``PJSIP/201`` → (default, PJSIP/201). Raises ``ValueError``."""
    match = _DEVICE.match(spec.strip())
    if match is None:
        raise ValueError(f"device {spec!r} is not [<pbx>:]<technology>/<resource>, e.g. PJSIP/201 or pbx2:PJSIP/201")
    return PbxDevice(pbx=match["pbx"] or DEFAULT_PBX, device=match["device"])


def is_pbx_id(value: str) -> bool:
    return bool(_PBX_ID.match(value))


class AmiEndpoint(BaseModel):
    """One PBX's manager interface, as ``CALLERCARD_PBXS`` lists the PBXs besides ``CALLERCARD_PBX_ID``'s (its
    secret is checked like every secret, in ``Settings``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = Field(min_length=1)
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = "callercard"
    secret: SecretStr


def ami_endpoint(settings: Settings, pbx: str) -> AmiEndpoint | None:
    """The manager interface of ``pbx``: ``CALLERCARD_PBXS``'s entry, else AMI_* for ``PBX_ID``; else None."""
    if pbx in settings.pbxs:
        return settings.pbxs[pbx]
    if pbx == settings.pbx_id:
        return AmiEndpoint(host=settings.ami_host, port=settings.ami_port, username=settings.ami_username,
                           secret=settings.ami_secret)
    return None


def known_pbxs(settings: Settings) -> list[str]:
    """The PBXs the settings name: ``PBX_ID`` and every one ``PBXS`` lists."""
    return sorted({settings.pbx_id, *settings.pbxs})

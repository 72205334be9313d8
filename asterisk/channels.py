"""How AMI names channels, calls and times: pure helpers of the call flow."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

# Every header an event may carry a call's Linkedid in: channel events, dials (Dest…), transfers (Transferer…,
# Transferee…, OrigTransferer…, SecondTransferer…, TransferTarget…). The first one present names the call.
LINKEDID_HEADERS = ("Linkedid", "DestLinkedid", "TransfererLinkedid", "TransfereeLinkedid",
                    "OrigTransfererLinkedid", "SecondTransfererLinkedid", "TransferTargetLinkedid")


def call_id_of(event: Mapping[str, str]) -> str:
    return next((event[key] for key in LINKEDID_HEADERS if event.get(key)), "")


def event_time(event: Mapping[str, str], received: datetime) -> datetime:
    """When it happened: the ``Timestamp`` header (manager.conf ``timestampevents = yes``), else ``received``."""
    stamp = event.get("Timestamp", "")
    try:
        return datetime.fromtimestamp(float(stamp), UTC) if stamp else received
    except (ValueError, OverflowError, OSError):
        return received


def duration(text: str) -> timedelta:
    """CoreShowChannel's ``Duration`` (``HH:MM:SS``) as a timedelta; zero when absent or malformed."""
    try:
        hours, minutes, seconds = (int(part) for part in text.split(":"))
    except ValueError:
        return timedelta(0)
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def leg_id(channel: str) -> str:
    """``Local/201@agents-00000004;1`` and ``;2`` are one leg: ``Local/201@agents-00000004``."""
    head, sep, half = channel.rpartition(";")
    return head if sep and half.isdigit() else channel


def device_of(channel: str) -> str:
    """A channel's device: the name cut at its last ``-`` (``PJSIP/201-0000002a`` → ``PJSIP/201``)."""
    head, sep, _ = leg_id(channel).rpartition("-")
    return head if sep else channel


def older(a: str, b: str) -> str:
    """The older of two Linkedids (``<epoch>.<sequence>``): the one Asterisk keeps when it merges calls."""
    def key(linkedid: str) -> tuple[float, int]:
        epoch, _, seq = linkedid.partition(".")
        try:
            return float(epoch), int(seq or 0)
        except ValueError:
            return float("inf"), 0
    return min(a, b, key=key)

"""Test data builders."""

from __future__ import annotations

from typing import Any


def account(account_id: str, holder: str, *numbers: str, status: str = "active", kind: str = "contact",
            **extra: Any) -> dict[str, Any]:
    """An account body for the admin API / bulk endpoint."""
    return {"id": account_id, "holder": holder, "status": status,
            "phones": [{"number": n, "kind": kind} for n in numbers], **extra}

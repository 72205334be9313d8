"""A dependency's health, as each external-system module reports it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Health:
    name: str
    ok: bool
    detail: str = ""
    extra: dict[str, object] = field(default_factory=dict)  # more the report shows (the AMI link per PBX)

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, **self.extra}

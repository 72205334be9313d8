"""What the domain needs from outside it, as small protocols (ports). Adapters implement them; roots wire them in.

- ``WorkerQueue``: hand work to the worker processes (``worker.queue.CeleryQueue``, over Celery and Redis).
- ``PbxActions``: ask the PBX to act (``asterisk.actions.AmiActions``, AMI actions).
- ``CardPublisher``: show card events to an agent (``callercard.calls.notifier.CardNotifier``, over Centrifugo).
- ``WebhookTransport``: POST one webhook delivery to another system (``worker.webhook_http.HttpTransport``, httpx).

Nothing under ``callercard/`` but the composition roots (``api/app.py``, ``cli.py``) imports ``worker`` or
``asterisk``: the domain names what it needs here, and ``tests/unit/test_layout.py`` keeps it that way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from callercard.calls.state import Notice

# The tasks the domain hands to the worker, by the names the worker registers them under.
LOOKUP_CALLER = "callercard.lookup_caller"  # args [number as the PBX gives it], kwargs {"call_id"}: warm its card
RECORD_CALL = "callercard.record_call"  # args [call record]: store a finished call's log record
RECORD_CALLS = "callercard.record_calls"  # args [[call record, ...]]: the same for several, in order
DELIVER_WEBHOOKS = "callercard.deliver_webhooks"  # args [endpoint id], kwargs {"force"}: send its due deliveries


Task = tuple[str, list[Any], dict[str, Any]]  # a task's name, args and kwargs


class WorkerQueue(Protocol):
    async def send(self, task: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Hand ``task`` to a worker and return once the broker has it; raises when it does not take it."""

    async def send_many(self, tasks: list[Task]) -> int:
        """Hand ``tasks`` over in order, in one go; how many the broker took (all, or those before the one it
        refused, whose error is logged by the caller from the count: fewer than ``len(tasks)``)."""


@dataclass(frozen=True, slots=True)
class ActionAnswer:
    """The PBX accepted an action: its name, the PBX's message and the ActionID."""

    action: str
    message: str
    action_id: str


class PbxActions(Protocol):
    """Each raises ``errors.PbxRefused`` (the PBX said no, with its message) or ``errors.PbxUnavailable``."""

    async def hangup(self, *, channel: str, cause: str = ...) -> ActionAnswer: ...

    async def queue_add(self, *, queue: str, interface: str, member_name: str,
                        state_interface: str) -> ActionAnswer: ...

    async def queue_remove(self, *, queue: str, interface: str) -> ActionAnswer: ...

    async def queue_pause(self, *, queue: str, interface: str, paused: bool, reason: str = ...) -> ActionAnswer: ...

    async def originate(self, *, channel: str, context: str, exten: str, caller_id: str,
                        variables: Mapping[str, str], action_id: str) -> ActionAnswer:
        """Ring ``channel`` (the agent's phone) first, then dial ``exten`` in ``context``; never waits for it."""


StillWanted = Callable[[], bool]


class CardPublisher(Protocol):
    async def notify(self, notice: Notice, *, direction: str, card: dict[str, Any] | None,
                     still_wanted: StillWanted | None = None) -> bool:
        """Publish ``notice`` to its agent only; False when it was not delivered. Never raises.

        ``still_wanted`` is asked before each retry, so an outdated event is not sent late."""


class DeliveryFailed(Exception):
    """The endpoint gave no HTTP answer (refused, timed out, TLS failed); the message says which."""


class WebhookTransport(Protocol):
    async def post(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body``; the endpoint's HTTP status (any). Raises ``DeliveryFailed`` when there is no answer."""

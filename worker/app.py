"""The Celery app: the worker consumes it (``worker.main``), producers send through it (``worker.queue``)."""

from __future__ import annotations

from celery import Celery

from callercard.ports import DELIVER_WEBHOOKS
from callercard.settings import Settings

# Webhook deliveries have a queue of their own: a worker can be given to them alone (``--queues webhooks``), so
# endpoints that hang cost only that worker's time, never the lookups' or the call records'.
QUEUES = {"calls": "callercard", "webhooks": "callercard-webhooks"}


def create_celery(settings: Settings) -> Celery:
    """A Celery app with the project's safety defaults: JSON only, acks late, one task prefetched."""
    app = Celery("callercard", broker=settings.redis_url, backend=settings.redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUES["calls"],
        task_routes={DELIVER_WEBHOOKS: {"queue": QUEUES["webhooks"]}},
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        # A killed worker's unacknowledged tasks go back to the queue once the visibility timeout has passed; the
        # sweep that does it runs every few seconds on every worker (kombu's default is ~100 s).
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout_seconds,
                                  "unacked_restore_interval": 2, "unacked_restore_throttle": 1},
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app

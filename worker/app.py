"""The worker process's composition root, and the Celery app producers use to send tasks."""

from __future__ import annotations

from celery import Celery

from callercard.settings import Settings

TASK_PREFIX = "callercard."


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
        task_default_queue="callercard",
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 300},
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app

"""The worker process's composition root: ``callercard worker``."""

from __future__ import annotations

from callercard.settings import Settings
from worker.app import QUEUES, create_celery
from worker.queue import CeleryQueue
from worker.runtime import WorkerRuntime
from worker.tasks import register_tasks


def run(settings: Settings, *, concurrency: int, queues: list[str]) -> None:
    """Consume ``queues`` (``calls``: lookups and call records; ``webhooks``: deliveries) until stopped, with
    ``concurrency`` prefork children."""
    app = create_celery(settings)
    register_tasks(app, WorkerRuntime(settings, queue=CeleryQueue(app)))
    app.worker_main(["worker", f"--loglevel={settings.log_level}", f"--concurrency={concurrency}",
                     "--pool=prefork", "--without-gossip", "--without-mingle", "-Q",
                     ",".join(QUEUES[queue] for queue in queues)])

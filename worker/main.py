"""The worker process's composition root: ``callercard worker``."""

from __future__ import annotations

from callercard.settings import Settings
from worker.app import create_celery
from worker.runtime import WorkerRuntime
from worker.tasks import register_tasks


def run(settings: Settings, *, concurrency: int) -> None:
    """Consume the ``callercard`` queue until stopped, with ``concurrency`` prefork children."""
    app = create_celery(settings)
    register_tasks(app, WorkerRuntime(settings))
    app.worker_main(["worker", f"--loglevel={settings.log_level}", f"--concurrency={concurrency}",
                     "--pool=prefork", "--without-gossip", "--without-mingle", "-Q", "callercard"])

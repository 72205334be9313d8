"""The worker's Prometheus metrics: prometheus_client's multi-process mode, its documented way for prefork workers.

Each prefork child counts into files under ``WORKER_METRICS_DIR``; the parent serves their sum on
``WORKER_METRICS_PORT``. prometheus_client reads ``PROMETHEUS_MULTIPROC_DIR`` when it is first imported, so
``prepare`` runs before anything imports it (``callercard.cli.run_worker``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def prepare(directory: str) -> Path:
    """An empty metrics directory for this worker's processes, named to prometheus_client."""
    path = Path(directory) if directory else Path(tempfile.gettempdir()) / f"callercard-worker-metrics-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)  # counts of a previous run would be summed in
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)  # the library's own switch, read at its import
    return path


def serve(port: int) -> None:
    from celery.signals import worker_process_shutdown
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
    start_http_server(port, registry=registry)

    @worker_process_shutdown.connect
    def _child_gone(pid: int | None = None, **_: object) -> None:
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]

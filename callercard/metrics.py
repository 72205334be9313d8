"""Prometheus metrics (prometheus_client): what operators watch, one definition per metric.

The API serves them at ``/metrics``; a listener and a worker on their own port (``LISTENER_METRICS_PORT``,
``WORKER_METRICS_PORT``). The worker's prefork children count in prometheus_client's multi-process mode
(``worker.main``). Names and the alerts built on them are in README.md ("Watching it").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import start_http_server as _start_http_server

# Seconds from the PBX's event reaching the process to its card event accepted by Centrifugo.
POPUP_PUBLISH_SECONDS = Histogram(
    "callercard_popup_publish_seconds", "From the PBX's event received to its card event published",
    ["event"], buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0))
CARD_EVENTS_FAILED = Counter("callercard_card_events_failed_total",
                             "Card events Centrifugo did not take after every attempt", ["event"])
LOOKUP_SECONDS = Histogram(
    "callercard_lookup_seconds", "The PBX's lookups (card, name, do-not-call check), answered within the budget",
    ["endpoint"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0))
LOOKUP_BUDGET_MISSES = Counter("callercard_lookup_budget_misses_total",
                               "Lookups the store did not answer within the budget (answered degraded)",
                               ["endpoint"])
AMI_LINK_UP = Gauge("callercard_ami_link_up", "1 while the active listener is logged in to the PBX", ["pbx"])
LISTENER_ACTIVE = Gauge("callercard_listener_active", "1 while this listener holds the PBX's lease",
                        ["pbx", "listener"])
AMI_EVENTS = Counter("callercard_ami_events_total", "AMI events the active listener read (rate(): per second)",
                     ["pbx"])
CALL_LOG_WRITE_FAILURES = Counter("callercard_call_log_write_failures_total",
                                  "Call records that failed to reach the call log (each attempt)", ["stage"])
# Set every few seconds by the active listener: a figure that only grows is work piling up in its memory.
LISTENER_BACKLOG = Gauge("callercard_listener_backlog", "What waits in the active listener's memory, by kind",
                         ["pbx", "what"])
# Requests that pile up go together (callercard.together): items ÷ round trips is how many each carried.
ROUND_TRIPS = Counter("callercard_round_trips_total", "Requests sent for what piled up, by what they carry", ["what"])
ROUND_TRIP_ITEMS = Counter("callercard_round_trip_items_total", "What those requests carried, by what", ["what"])
# Each garbage collection stops the process's event loop (callercard.gc_pauses): full ones are what to watch.
GC_PAUSE_SECONDS = Histogram("callercard_gc_pause_seconds", "Garbage collections, by generation", ["generation"],
                             buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25))
TAKEOVERS = Counter("callercard_listener_takeovers_total", "Times this listener became the active one", ["pbx"])


def latest(registry: CollectorRegistry | None = None) -> bytes:
    """The text exposition of every metric (of ``registry``, else this process's)."""
    return generate_latest(registry) if registry is not None else generate_latest()


def serve(port: int, registry: CollectorRegistry | None = None) -> None:
    """Serve ``/metrics`` on ``port`` (all interfaces: Prometheus scrapes from another host) in a thread."""
    if registry is not None:
        _start_http_server(port, registry=registry)
    else:
        _start_http_server(port)

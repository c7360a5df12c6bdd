"""What the processes count, for Prometheus: prometheus-client's counters and histograms, in
multiprocess mode where PROMETHEUS_MULTIPROC_DIR is set (bin/web and bin/worker set it, so the
uvicorn processes, a worker's pool processes and, on one machine, all of them add up).

Labels carry a job's type, status and queue, never its params, result or owner. Each process
counts what it did itself: a worker its finishes and retries, the web the jobs it cancels.
The ledger's gauges are read when scraped (see `add_collector` and jobs/metrics.py).
"""

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.registry import REGISTRY, Collector

from ops.workers_alive import WorkersAliveCollector

# From a millisecond no-op to the default hard time limit (330 s), and beyond.
SECONDS_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    *(5, 10, 30, 60, 120, 300, 600),
    float("inf"),
)

JOBS_FINISHED = Counter(
    "jobs_finished", "Jobs that reached a terminal status, by type and status.", ["type", "status"]
)
JOBS_RETRIED = Counter("jobs_retries", "Failed attempts scheduled to run again, by type.", ["type"])
JOB_RUN_SECONDS = Histogram(
    "jobs_run_seconds",
    "An attempt's run time, from its claim to its end, by type.",
    ["type"],
    buckets=SECONDS_BUCKETS,
)
JOB_QUEUE_WAIT_SECONDS = Histogram(
    "jobs_queue_wait_seconds",
    "From queued to claimed by a worker, by type.",
    ["type"],
    buckets=SECONDS_BUCKETS,
)
WEBHOOK_DELIVERIES = Counter("webhook_deliveries", "Webhook delivery attempts, by outcome.", ["outcome"])

_collectors: list[Collector] = []
_registry: CollectorRegistry | None = None


def add_collector(collector: Collector) -> None:
    """A collector whose series are read at each scrape (the ledger's gauges): the apps add
    theirs when they load, so this module imports none of them."""
    _collectors.append(collector)


def scrape_registry() -> CollectorRegistry:
    """Every series this process serves at /metrics: all processes' counts (or, without a
    multiprocess folder, this process's own), then the collectors added."""
    global _registry
    if _registry is None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = CollectorRegistry()
            registry.register(_ProcessLocal())
        for collector in [WorkersAliveCollector(), *_collectors]:
            registry.register(collector)
        _registry = registry
    return _registry


class _ProcessLocal(Collector):
    """This process's own counters and histograms (prometheus-client's default registry)."""

    def collect(self):
        for family in REGISTRY.collect():
            if family.name.startswith(("jobs_", "webhook_")):
                yield family

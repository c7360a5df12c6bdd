"""The worker's bootsteps: its liveness (ops/liveness.py, ops/workers_alive.py) and its /metrics."""

from celery import bootsteps
from django.conf import settings

from ops.exposition import metrics_server_start
from ops.liveness import TOUCH_EVERY_S, liveness_file, touch
from ops.workers_alive import worker_alive_forget, worker_alive_record


def _alive(hostname: str) -> None:
    touch("worker")
    worker_alive_record(hostname)


class WorkerLiveness(bootsteps.StartStopStep):
    """Touches the worker's file and its entry in Redis from the worker's own timer, so a main
    process that is stuck (not serving the broker, the pool or the timer) stops touching them."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_entry = None

    def start(self, worker):
        _alive(worker.hostname)
        self.timer_entry = worker.timer.call_repeatedly(
            TOUCH_EVERY_S, _alive, (worker.hostname,), priority=10
        )

    def stop(self, worker):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
        liveness_file("worker").unlink(missing_ok=True)
        worker_alive_forget(worker.hostname)


class WorkerMetricsServer(bootsteps.StartStopStep):
    """/metrics on WORKER_METRICS_PORT, for a worker that does not share a machine with the web."""

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.server = None

    def start(self, worker):
        if settings.WORKER_METRICS_PORT:
            self.server = metrics_server_start(host=settings.BIND_HOST, port=settings.WORKER_METRICS_PORT)

    def stop(self, worker):
        if self.server is not None:
            self.server.shutdown()

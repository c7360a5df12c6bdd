"""The worker's side of its liveness file (ops/liveness.py): a bootstep."""

from celery import bootsteps

from ops.liveness import TOUCH_EVERY_S, liveness_file, touch


class WorkerLivenessFile(bootsteps.StartStopStep):
    """Touches the worker's file from the worker's own timer, so a main process that is stuck
    (not serving the broker, the pool or the timer) stops touching it."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_entry = None

    def start(self, worker):
        touch("worker")
        self.timer_entry = worker.timer.call_repeatedly(TOUCH_EVERY_S, touch, ("worker",), priority=10)

    def stop(self, worker):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
        liveness_file("worker").unlink(missing_ok=True)

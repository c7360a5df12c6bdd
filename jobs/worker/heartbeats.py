"""Heartbeats: one thread per worker process keeps its running jobs' attempts alive."""

import logging
import os
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from jobs.models import Job
from jobs.services.attempts import current_attempt

logger = logging.getLogger(__name__)


class _Heartbeats:
    """One thread per worker process marks the jobs it is running alive every JOB_HEARTBEAT_S.

    A job whose heartbeat stops (its worker was killed) is found by the reconciler. Only the
    current attempt beats: a superseded one must not keep its successor looking alive. One
    long-lived thread, rather than one per job, keeps short jobs cheap; it is started lazily
    in each process, because threads do not survive the fork of a prefork pool.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: dict = {}
        self._pid = None

    TICK_S = 0.5

    @contextmanager
    def beating(self, *, job: Job):
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._jobs = {}
                threading.Thread(target=self._run, name="job-heartbeats", daemon=True).start()
            self._jobs[job.pk] = [job, time.monotonic()]  # the claim was its first heartbeat
        try:
            yield
        finally:
            with self._lock:
                self._jobs.pop(job.pk, None)

    def _run(self):
        while True:
            time.sleep(self.TICK_S)
            now = time.monotonic()
            with self._lock:
                idle = not self._jobs
                due = [entry for entry in self._jobs.values() if now - entry[1] >= settings.JOB_HEARTBEAT_S]
                for entry in due:
                    entry[1] = now
            if idle:
                connection.close()  # hold no database connection between jobs
                continue
            for job, _ in due:
                try:
                    # After a database outage, drop the broken connection so this beat reconnects.
                    connection.close_if_unusable_or_obsolete()
                    current_attempt(job).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    logger.warning("could not record the heartbeat of job %s", job.pk, exc_info=True)
                    connection.close()


heartbeats = _Heartbeats()

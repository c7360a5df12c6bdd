"""The context a running job function gets: its job, progress reports, and whether it was cancelled."""

import time

from django.conf import settings

from jobs.worker.progress import job_report_progress, job_should_stop


class JobContext:
    """What a running job function can see and do besides its params."""

    # A cooperative job checks ctx.cancelled often; the database is asked at most this often.
    CANCEL_CHECK_INTERVAL_S = 0.5

    def __init__(self, job):
        self.job = job
        self._last_progress_write = 0.0
        self._last_cancel_check = 0.0
        self._cancelled = False

    @property
    def job_id(self) -> str:
        return str(self.job.id)

    def progress(self, current: int, total: int, message: str = "") -> None:
        """Report progress. Writes are throttled per job; the first and the last step always land."""
        now = time.monotonic()
        is_edge = current == 0 or current >= total
        if not is_edge and now - self._last_progress_write < settings.JOB_PROGRESS_MIN_INTERVAL_S:
            return
        self._last_progress_write = now
        job_report_progress(job=self.job, current=current, total=total, message=message)

    @property
    def cancelled(self) -> bool:
        """True once the job has been cancelled (or this attempt superseded); a cooperative job
        should then stop."""
        now = time.monotonic()
        if not self._cancelled and now - self._last_cancel_check >= self.CANCEL_CHECK_INTERVAL_S:
            self._last_cancel_check = now
            self._cancelled = job_should_stop(job=self.job)
        return self._cancelled

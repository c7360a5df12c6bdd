import time

from django.conf import settings

from jobs import services


class JobContext:
    """What a running job function can see and do besides its params."""

    def __init__(self, job):
        self.job = job
        self._last_progress_write = 0.0

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
        services.job_report_progress(job_id=self.job.id, current=current, total=total, message=message)

"""Every job type is a Celery task named after it (`text.uppercase`), of this class.

So Celery's own tools see each type by name: Flower's task list, `celery inspect registered`,
TaskResult.task_name, CELERY_TASK_ROUTES, task_annotations, and rate or time limits set from
Flower. The message carries the job id (as the task id) and the params (as kwargs) for those
tools to show; the worker runs what the job's row says.
"""

import logging
import os

from celery import Task, states
from celery.exceptions import Ignore
from rest_framework.exceptions import ValidationError

from jobs import results
from jobs.exceptions import UnknownJobType
from jobs.registry import JobType, job_type_get
from jobs.services.submit import job_create, job_spec_build, system_user
from jobs.worker.claim import job_claim
from jobs.worker.run import job_execute
from ops.logformat import log_context

logger = logging.getLogger(__name__)


class JobTask(Task):
    # The function takes a context before its params, which its type's serializer checks.
    typing = False
    # The claim stores STARTED and the finish the outcome, each in the same statement as the job's
    # row (jobs/worker/claim.py, jobs/services/finish.py); Celery storing them again would race that.
    ignore_result = True

    def __call__(self, *args, **kwargs):
        if self.request.called_directly:
            return self.run(*args, **kwargs)  # a plain call: the function as declared
        job_id = self.request.id
        with log_context(job_id=job_id, job_type=self.name):
            job = job_claim(
                job_id=job_id, worker=self.request.hostname or "", started=self._started_result(job_id)
            )
            if job is None:
                logger.info("job %s is not queued (finished, running elsewhere or deleted); skipping", job_id)
                raise Ignore()
            with log_context(attempt=job.attempts):
                return job_execute(job=job, task=self)

    def _started_result(self, job_id: str):
        """The STARTED TaskResult that Celery's tracer stores with track_started, which it skips
        for a task that ignores its result: the claim stores it, if the claim succeeds."""
        if not self.track_started:
            return None
        meta = {"pid": os.getpid(), "hostname": self.request.hostname}
        with results.task_result_captured() as captured:
            self.backend.store_result(job_id, meta, states.STARTED, request=self.request)
        return captured[0]

    def job_type_for(self, job) -> JobType:
        """The registered type the job's row names; UnknownJobType (which fails the job) if this
        worker has none (removed, or a worker on old code)."""
        job_type = job_type_get(job.type)
        if job_type is None:
            raise UnknownJobType(f"No job type {job.type!r} is registered on this worker.")
        return job_type

    def apply_async(self, args=None, kwargs=None, task_id=None, *, owner=None, **options):
        """Celery's calling API submits a job, as POST /api/jobs/ does: `.delay(**params)`, or
        `.apply_async(kwargs=params, countdown=s, eta=datetime, priority=0..9, owner=user)`.

        The params are validated (a ValidationError here, at the call), the row is written (owned
        by `owner`, or the system user) and the message published when the transaction commits.
        Returns the AsyncResult of the job's id; `.get()` waits for its result.
        """
        if args:
            raise TypeError(f"Job type {self.name!r} takes its params as keyword arguments.")
        if task_id is not None:
            raise TypeError("A job's id is chosen by the ledger; task_id cannot be given.")
        unsupported = set(options) - {"countdown", "eta", "priority"}
        if unsupported:
            raise TypeError(f"Not supported for a job: {', '.join(sorted(unsupported))}.")
        priority = options.get("priority")
        if priority is not None and (not isinstance(priority, int) or not 0 <= priority <= 9):
            raise ValidationError(
                {"priority": ["Must be a whole number from 0 to 9 (9 is the most urgent)."]}
            )
        spec = job_spec_build(
            type=self.name,
            params=dict(kwargs or {}),
            priority=5 if priority is None else priority,
            run_at=options.get("eta"),
            delay_s=options.get("countdown"),
        )
        job, _ = job_create(owner=owner or system_user(), spec=spec)
        return self.AsyncResult(str(job.pk))

"""Exceptions job code and callers of the services may meet."""

from common.exceptions import Conflict, TooManyRequests


class UnknownJobType(Exception):
    """A queued job names a type this worker does not have (removed, or a worker on old code)."""


class TimeLimitExceeded(Exception):
    """A job ran past its time limit."""


class JobCancelled(Exception):
    """Raise it from a cooperative job function that noticed ctx.cancelled."""


class JobConflict(Conflict):
    """The request does not fit the job's current state (e.g. cancelling a finished job)."""


class TooManyActiveJobs(TooManyRequests):
    """The user already has JOB_MAX_ACTIVE_PER_USER unfinished jobs."""

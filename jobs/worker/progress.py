"""What a running job reports and asks: its progress, and whether it should stop."""

from jobs import events
from jobs.models import Job, progress_percent
from jobs.registry import job_type_get
from jobs.services.attempts import current_attempt


def job_report_progress(*, job: Job, current: int, total: int, message: str = "") -> None:
    """Record a running attempt's progress; a superseded or cancelled attempt's is ignored."""
    if total <= 0 or current < 0:
        raise ValueError(f"progress needs 0 <= current and 0 < total, got {current}/{total}")
    current = min(current, total)
    message = message[:500]
    job_id = job.pk
    job_type = job_type_get(job.type)
    if job_type is not None and job_type.transactional:
        # Inside the job's open transaction a row write would lock the job until it commits,
        # holding up cancels and heartbeats: such jobs report progress to listeners only.
        updated = True
    else:
        updated = current_attempt(job).update(
            progress_current=current, progress_total=total, progress_message=message
        )
    if updated:
        progress = {"current": current, "total": total, "percent": progress_percent(current, total)}
        events.event_publish(
            job_id=job_id, kind="progress", data={"progress": {**progress, "message": message}}
        )


def job_should_stop(*, job: Job) -> bool:
    """True once this attempt no longer owns the job: cancelled, or superseded by a newer one."""
    return not current_attempt(job).exists()

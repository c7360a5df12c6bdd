"""How the job admin shows a job: status badges, progress bars, times, results and tracebacks."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.html import format_html
from django_celery_results.models import TaskResult

from jobs.models import Job, JobStatus, progress_percent

# --- Showing a job ---------------------------------------------------------------------------

STATUS_COLOURS = {
    JobStatus.PENDING: "#5f7487",  # waiting: grey-blue
    JobStatus.SCHEDULED: "#5f7487",
    JobStatus.QUEUED: "#5f7487",
    JobStatus.RUNNING: "#1d64c2",
    JobStatus.RETRYING: "#b36b00",  # amber
    JobStatus.SUCCEEDED: "#2b7a34",
    JobStatus.FAILED: "#c0392b",
    JobStatus.CANCELLED: "#7b7b7b",
}


BADGE_STYLE = (
    "display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-size:11px;"
    "font-weight:600;line-height:16px;white-space:nowrap;background:{}"
)


BAR_STYLE = (
    "display:inline-block;width:80px;height:8px;border-radius:4px;background:#dcdcdc;"
    "overflow:hidden;vertical-align:middle"
)


FILL_STYLE = "display:block;height:100%;width:{}%;background:#1d64c2"


PRE_STYLE = "white-space:pre-wrap;word-break:break-word;max-height:32em;overflow:auto;margin:0"


SHOWN_CHARS = 100_000  # a bigger result or traceback is cut on the page; the TaskResult has it all


def status_badge(status: str):
    """A small coloured label for a job or workflow status."""
    colour = STATUS_COLOURS.get(status, "#7b7b7b")
    label = JobStatus(status).label if status in JobStatus.values else status
    return format_html(
        '<span class="job-status job-status-{}" style="{}">{}</span>',
        status,
        format_html(BADGE_STYLE, colour),
        label,
    )


def progress_bar(job: Job):
    """A bar and the percentage, or "—" before the job has reported progress."""
    if not job.progress_total:
        return "—"
    current = min(job.progress_current or 0, job.progress_total)
    percent = f"{progress_percent(current, job.progress_total):g}"
    return format_html(
        '<span class="job-progress" title="{} of {}" role="progressbar" aria-valuenow="{}" '
        'aria-valuemin="0" aria-valuemax="100"><span style="{}"><span style="{}"></span></span> {}%</span>',
        current,
        job.progress_total,
        percent,
        BAR_STYLE,
        format_html(FILL_STYLE, percent),
        percent,
    )


def timestamp(value) -> str:
    """Local time to the second: Django's default format stops at the minute."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "—"


def seconds_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def pre_block(text: str):
    if len(text) > SHOWN_CHARS:
        text = f"{text[:SHOWN_CHARS]}\n… cut at {SHOWN_CHARS:,} characters; the Celery result has the rest."
    return format_html('<pre style="{}">{}</pre>', PRE_STYLE, text)


def pretty_json(value):
    return pre_block(json.dumps(value, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))


def task_result_of(job: Job) -> TaskResult | None:
    """The job's Celery outcome (task id = job id), read once however many fields show it."""
    if not hasattr(job, "task_result_of"):
        job.task_result_of = TaskResult.objects.filter(task_id=str(job.pk)).first()
    return job.task_result_of


# --- Acting on jobs ----------------------------------------------------------------------------


def reasons_text(detail):
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from (f"{key}: {reason}" for reason in reasons_text(value))
    elif isinstance(detail, list):
        for item in detail:
            yield from reasons_text(item)
    else:
        yield str(detail)

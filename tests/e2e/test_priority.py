"""Priority, observed: a single-process worker with a backlog on Redis starts the most urgent
jobs first, whatever order they were queued in."""

from jobs.models import Job, JobStatus
from tests.conftest import Process, wait_for
from tests.job_types import PRIORITY_PROBE_QUEUE


def test_priority_9_jobs_start_before_earlier_priority_0_jobs(live_api, live_env, live_logs):
    def submit(priority: int) -> str:
        body = {"type": "test.priority_probe", "params": {}, "priority": priority}
        response = live_api.post(f"{live_api.base_url}/api/jobs/", json=body, timeout=10)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    # No worker reads this queue yet: the backlog builds up in Redis, the low priority first.
    low = [submit(0) for _ in range(5)]
    high = [submit(9) for _ in range(5)]
    args = ["celery", "-A", "config", "worker", "-c", "1", "-Q", PRIORITY_PROBE_QUEUE, "-n", "prio@%h"]
    worker = Process("priority-worker", [*args, "--without-mingle", "-l", "info"], live_env, live_logs)
    try:
        jobs = Job.objects.filter(pk__in=low + high)
        wait_for(
            lambda: jobs.filter(status=JobStatus.SUCCEEDED).count() == 10,
            timeout=60,
            what="the single-process worker to run all ten jobs",
        )
    finally:
        worker.stop()
    started = [str(pk) for pk in jobs.order_by("started_at").values_list("pk", flat=True)]
    assert set(started[:5]) == set(high), [("high" if pk in high else "low") for pk in started]
    assert set(started[5:]) == set(low)

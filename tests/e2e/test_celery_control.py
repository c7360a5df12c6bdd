"""Operating from Flower keeps the ledger true: its Revoke and Terminate buttons call Celery's
`control.revoke`, as `celery control revoke` does, and the job ends cancelled."""

import socket

from config.celery_app import app as celery_app
from jobs.services.recover import REVOKED_REASONS
from tests.e2e.helpers import (
    assert_stored_outcome,
    get_job,
    post,
    submit,
    wait_for_status,
    wait_until_finished,
)
from tests.job_types import effect_count, release


def test_a_revoked_queued_job_ends_cancelled_without_running_and_a_later_retry_runs(live_api):
    # Both worker processes held busy, so the job waits in the queue when it is revoked.
    blockers = [submit(live_api, "test.hold").json()["id"] for _ in range(2)]
    for blocker in blockers:
        wait_for_status(live_api, blocker, "running")
    job_id = submit(live_api, "test.count").json()["id"]
    # Flower's Revoke; the reply says the worker has noted the id before the blockers end.
    worker = f"e2e@{socket.gethostname()}"
    assert celery_app.control.revoke(job_id, destination=[worker], reply=True, limit=1, timeout=10)
    for blocker in blockers:
        release(blocker)

    job = wait_for_status(live_api, job_id, "cancelled", timeout=30)
    assert (job["attempts"], job["started_at"]) == (0, None)
    assert job["error"] == {"type": "JobCancelled", "message": REVOKED_REASONS["revoked"]}
    assert effect_count(job_id) == 0
    assert_stored_outcome(live_api, job_id, status="REVOKED", started=False)

    # The worker still remembers the id as revoked; a retry by hand runs all the same, once.
    assert post(live_api, f"/api/jobs/{job_id}/retry/").status_code == 200
    job = wait_until_finished(live_api, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 1)
    assert effect_count(job_id) == 1


def test_a_terminated_running_job_ends_cancelled_and_is_not_run_again(live_api):
    job_id = submit(live_api, "test.sleep", seconds=30).json()["id"]
    wait_for_status(live_api, job_id, "running")
    celery_app.control.revoke(job_id, terminate=True, signal="SIGTERM")  # Flower's Terminate

    job = wait_for_status(live_api, job_id, "cancelled", timeout=15)
    assert job["error"] == {"type": "JobCancelled", "message": REVOKED_REASONS["terminated"]}
    # Not taken for a lost worker and run again: the worker is free for the next job.
    after = submit(live_api, "math.add", x=1, y=2).json()["id"]
    assert wait_until_finished(live_api, after, timeout=15)["result"] == 3
    job = get_job(live_api, job_id)
    assert (job["status"], job["attempts"]) == ("cancelled", 1)
    assert job["attempt_history"][0]["error"]["message"] == REVOKED_REASONS["terminated"]
    assert_stored_outcome(live_api, job_id, status="REVOKED", started=True)

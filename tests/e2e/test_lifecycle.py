"""The job lifecycle over HTTP with a live worker, beat, PostgreSQL and Redis."""

from datetime import datetime

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.services.publish import job_dispatch_due
from tests.conftest import wait_for
from tests.e2e.helpers import (
    assert_stored_outcome,
    get_job,
    post,
    read_events,
    submit,
    wait_for_status,
    wait_until_finished,
)
from tests.job_types import effect_count, release


@pytest.mark.broker
def test_the_event_stream_delivers_progress_in_order_and_ends_with_the_result(live_api):
    job_id = submit(live_api, "demo.countdown", word="go", steps=4, delay_s=0.3).json()["id"]
    events = read_events(live_api, job_id)

    assert events[0]["event"] == "snapshot"
    progress = [e["data"]["progress"]["current"] for e in events if e["event"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 4
    assert events[-1]["event"] == "status"
    assert events[-1]["data"]["status"] == "succeeded"
    assert events[-1]["data"]["result"] == "go"

    # Resuming after an event replays exactly what came after it.
    middle = next(i for i, e in enumerate(events) if e["event"] == "progress")
    resumed = read_events(live_api, job_id, headers={"Last-Event-ID": events[middle]["id"]})
    assert [e["id"] for e in resumed] == [e["id"] for e in events[middle + 1 :]]
    # Resuming after the end: the final state at once, and the stream closes.
    after_end = read_events(live_api, job_id, headers={"Last-Event-ID": events[-1]["id"]})
    assert [(e["event"], e["data"]["status"]) for e in after_end] == [("snapshot", "succeeded")]


def test_the_event_stream_of_a_finished_job_is_its_snapshot(live_api):
    job_id = submit(live_api, "math.add", x=1, y=1).json()["id"]
    wait_until_finished(live_api, job_id)
    events = read_events(live_api, job_id)
    assert [e["event"] for e in events] == ["snapshot"]
    assert events[0]["data"]["result"] == 2


@pytest.mark.broker
def test_a_cancelled_queued_job_never_starts(live_api, celery_worker):
    # Both worker processes held busy, so the next job waits in the queue until they are released.
    blockers = [submit(live_api, "test.hold").json()["id"] for _ in range(2)]
    for blocker in blockers:
        wait_for_status(live_api, blocker, "running")
    job_id = submit(live_api, "test.count").json()["id"]
    cancelled = post(live_api, f"/api/jobs/{job_id}/cancel/")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    for blocker in blockers:
        release(blocker)
        wait_until_finished(live_api, blocker)
    # The worker now takes the cancelled job's message: it must skip it.
    wait_for(lambda: f"job {job_id} is not queued" in celery_worker.log(), timeout=20, what="the skip")
    job = get_job(live_api, job_id)
    assert (job["status"], job["attempts"], job["started_at"]) == ("cancelled", 0, None)
    assert effect_count(job_id) == 0
    assert_stored_outcome(live_api, job_id, status="REVOKED", started=False)


@pytest.mark.broker
def test_a_running_job_is_stopped_by_cancel_cooperatively_or_by_termination(live_api):
    cooperative = submit(live_api, "demo.countdown", word="w", steps=50, delay_s=0.2).json()["id"]
    blunt = submit(live_api, "test.sleep", seconds=30).json()["id"]
    wait_for_status(live_api, cooperative, "running")
    wait_for_status(live_api, blunt, "running")
    for job_id in (cooperative, blunt):
        response = post(live_api, f"/api/jobs/{job_id}/cancel/")
        assert response.json()["status"] == "cancelled"
        assert response.json()["error"]["type"] == "JobCancelled"
        assert post(live_api, f"/api/jobs/{job_id}/cancel/").status_code == 200  # twice is fine

    # The worker is free again within seconds, not after the 30 s sleep.
    after = submit(live_api, "math.add", x=1, y=2).json()["id"]
    assert wait_until_finished(live_api, after, timeout=15)["result"] == 3
    assert get_job(live_api, cooperative)["progress"]["current"] < 50
    for job_id in (cooperative, blunt):
        assert_stored_outcome(live_api, job_id, status="REVOKED", started=True)
    assert post(live_api, f"/api/jobs/{after}/cancel/").status_code == 409


@pytest.mark.broker
def test_a_transient_error_is_retried_and_every_attempt_is_kept(live_api):
    job_id = submit(live_api, "test.flaky", failures=1).json()["id"]
    job = wait_until_finished(live_api, job_id)
    assert (job["status"], job["result"], job["attempts"]) == ("succeeded", 2, 2)
    first, second = job["attempt_history"]
    assert first["error"] == {"type": "ConnectionError", "message": "transient failure on attempt 1"}
    assert first["finished_at"] is not None and first["worker"].startswith("e2e@")
    assert second["error"] is None
    assert_stored_outcome(live_api, job_id, status="SUCCESS", started=True)  # the second attempt's start


@pytest.mark.broker
def test_a_failed_job_can_be_retried_by_hand(live_api):
    job_id = submit(live_api, "test.fail_first").json()["id"]
    assert wait_until_finished(live_api, job_id)["status"] == "failed"
    retried = post(live_api, f"/api/jobs/{job_id}/retry/")
    # Read back after the publish: a quick worker may already have it.
    assert (retried.status_code, retried.json()["status"] in {"queued", "running", "succeeded"}) == (
        200,
        True,
    )
    job = wait_until_finished(live_api, job_id)
    assert (job["status"], job["result"], job["attempts"], job["error"]) == (
        "succeeded",
        "second time lucky",
        2,
        None,
    )
    assert post(live_api, f"/api/jobs/{job_id}/retry/").status_code == 409


def test_a_job_past_its_soft_time_limit_fails_with_time_limit_exceeded(live_api):
    job = wait_until_finished(live_api, submit(live_api, "test.slow", seconds=10).json()["id"])
    assert job["status"] == "failed"
    assert job["error"] == {
        "type": "TimeLimitExceeded",
        "message": "The job ran past its soft time limit of 1 s.",
    }
    assert_stored_outcome(live_api, job["id"], status="FAILURE", started=True)


@pytest.mark.broker
def test_a_scheduled_job_waits_for_its_time_and_runs_exactly_once(live_api):
    response = live_api.post(
        f"{live_api.base_url}/api/jobs/", json={"type": "test.count", "params": {}, "delay_s": 5}, timeout=10
    )
    job = response.json()
    assert (job["status"], job["run_at"] is not None) == ("scheduled", True)
    run_at = datetime.fromisoformat(job["run_at"])

    def waiting():
        status = get_job(live_api, job["id"])["status"]
        read_by = timezone.now()
        if read_by < run_at:  # a read that ended before its time must find it waiting
            assert status == "scheduled", "ran before its time"
        return read_by >= run_at

    wait_for(waiting, timeout=30, interval=0.2, what="the job's time")
    done = wait_until_finished(live_api, job["id"], timeout=30)
    assert done["status"] == "succeeded"
    assert done["started_at"] >= job["run_at"]
    # More dispatcher rounds, beside beat's, must not publish it again.
    assert [job_dispatch_due(), job_dispatch_due()] == [0, 0]
    assert effect_count(job["id"]) == 1
    assert get_job(live_api, job["id"])["attempts"] == 1


def test_a_batch_of_a_thousand_jobs_is_accepted_at_once_and_all_complete(live_api, user):
    jobs = [{"type": "math.add", "params": {"x": n, "y": 1}} for n in range(1000)]
    response = post(live_api, "/api/jobs/batch/", json={"jobs": jobs})
    assert response.status_code == 202
    accepted = response.json()["jobs"]
    assert [job["params"]["x"] for job in accepted] == list(range(1000))
    wait_for(
        lambda: Job.objects.filter(owner=user, status="succeeded").count() == 1000,
        timeout=120,
        interval=0.5,
        what="all 1,000 batch jobs",
    )
    sample = get_job(live_api, accepted[500]["id"])
    assert sample["result"] == 501


def test_a_workflow_passes_each_result_to_the_next_step(live_api):
    steps = [
        {"type": "math.add", "params": {"x": 1, "y": 2}},
        {"type": "math.add", "params": {"y": 10}},
        {"type": "math.divide", "params": {"y": 2}},
    ]
    workflow = post(live_api, "/api/workflows/", json={"steps": steps}).json()
    done = wait_for(
        lambda: (w := live_api.get(workflow["url"]).json())["status"] == "succeeded" and w,
        timeout=30,
        what="the workflow",
    )
    assert [step["result"] for step in done["steps"]] == [3, 13, 6.5]


def test_a_failing_workflow_step_stops_the_steps_after_it(live_api):
    steps = [
        {"type": "math.add", "params": {"x": 1, "y": 2}},
        {"type": "math.divide", "params": {"y": 0}},
        {"type": "math.add", "params": {"y": 1}},
    ]
    workflow = post(live_api, "/api/workflows/", json={"steps": steps}).json()
    done = wait_for(
        lambda: (w := live_api.get(workflow["url"]).json())["status"] == "failed" and w,
        timeout=30,
        what="the workflow to fail",
    )
    first, middle, last = done["steps"]
    assert (first["status"], middle["status"], last["status"]) == ("succeeded", "failed", "cancelled")
    assert last["error"]["message"] == "Step 1 (math.divide) failed; the steps after it did not run."
    assert last["attempts"] == 0


def test_an_idempotency_key_replays_the_job_and_refuses_a_changed_body(live_api):
    url = f"{live_api.base_url}/api/jobs/"
    body = {"type": "test.count", "params": {}}
    first = live_api.post(url, json=body, headers={"Idempotency-Key": "order-42"}, timeout=10)
    replay = live_api.post(url, json=body, headers={"Idempotency-Key": "order-42"}, timeout=10)
    changed = live_api.post(
        url, json={**body, "priority": 9}, headers={"Idempotency-Key": "order-42"}, timeout=10
    )
    assert (first.status_code, replay.status_code, changed.status_code) == (202, 200, 409)
    assert replay.json()["id"] == first.json()["id"]
    wait_until_finished(live_api, first.json()["id"])
    assert effect_count(first.json()["id"]) == 1


@pytest.mark.broker
def test_a_job_whose_pool_process_is_killed_runs_again_at_once(live_api, celery_worker):
    import os
    import signal
    import subprocess

    job_id = submit(live_api, "test.hold").json()["id"]
    wait_for_status(live_api, job_id, "running")
    children = subprocess.run(["pgrep", "-P", str(celery_worker.popen.pid)], capture_output=True, text=True)
    for pid in children.stdout.split():
        os.kill(int(pid), signal.SIGKILL)
    release(job_id)  # the second attempt may finish; the first was killed while held
    # Far sooner than the reconciler's heartbeat timeout (60 s): Celery reported the loss.
    job = wait_until_finished(live_api, job_id, timeout=20)
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    assert job["attempt_history"][0]["error"]["type"] == "WorkerLost"
    assert_stored_outcome(live_api, job_id, status="SUCCESS", started=True)

"""Webhooks against the live stack: a job's callback, signed as the README says, and retried."""

import json

from tests.conftest import wait_for
from tests.local_server import LocalServer
from tests.unit.test_webhooks import ERROR, OK, documented_verify


def test_a_finished_job_is_posted_to_its_callback_url_signed_and_retried(live_api):
    with LocalServer(ERROR, OK) as receiver:
        submitted = live_api.post(
            f"{live_api.base_url}/api/jobs/",
            json={"type": "math.add", "params": {"x": 2, "y": 3}, "callback_url": receiver.url("/hooks")},
            timeout=10,
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        secret = live_api.get(f"{live_api.base_url}/api/webhooks/secret/", timeout=10).json()["secret"]
        verify_as_the_readme_shows = documented_verify()

        def verified_delivery():
            return next(
                (
                    r
                    for r in receiver.received
                    if verify_as_the_readme_shows(secret, r.headers["Webhook-Signature"], r.body)
                ),
                None,
            )

        wait_for(lambda: len(receiver.received) == 2 and verified_delivery(), timeout=30, what="the retry")

    assert all(r.body == receiver.received[0].body for r in receiver.received)
    job = json.loads(verified_delivery().body)
    assert (job["id"], job["status"], job["result"]) == (job_id, "succeeded", 5)

    def both_attempts_logged():
        url = f"{live_api.base_url}/api/webhooks/deliveries/?job={job_id}"
        listed = live_api.get(url, timeout=10).json()["results"]
        return listed if len(listed) == 2 else None

    listed = wait_for(both_attempts_logged, timeout=10, what="both attempts in the log")
    assert sorted((d["attempt"], d["status_code"], d["delivered"]) for d in listed) == [
        (1, 500, False),
        (2, 200, True),
    ]

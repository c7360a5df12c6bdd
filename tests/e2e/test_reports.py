"""Reports against the live stack."""

from tests.conftest import wait_for


def test_a_report_job_over_http_shows_up_in_the_report_list(live_api):
    base = live_api.base_url
    body = {"type": "report.generate", "params": {"window": "day"}}
    job_id = live_api.post(f"{base}/api/jobs/", json=body, timeout=10).json()["id"]

    def finished():
        job = live_api.get(f"{base}/api/jobs/{job_id}/", timeout=10).json()
        return job if job["status"] in {"succeeded", "failed"} else None

    job = wait_for(finished, timeout=30, what="the report job")
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["current"] == job["progress"]["total"] == 7
    reports = live_api.get(f"{base}/api/reports/", timeout=10).json()["results"]
    assert [(r["id"], r["job"], r["owner"]) for r in reports] == [(job["result"]["report"], job_id, "alice")]

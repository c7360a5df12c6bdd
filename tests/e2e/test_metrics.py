"""/metrics of the live web server, which adds up its own and the live worker's counts (one
multiprocess folder, as on one machine)."""

import requests

from tests.conftest import LIVE_METRICS_TOKEN, metric_samples, wait_for
from tests.e2e.helpers import submit, wait_until_finished


def scrape(base_url: str) -> dict:
    answer = requests.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {LIVE_METRICS_TOKEN}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return metric_samples(answer.text)


def test_metrics_ask_for_the_token_and_count_three_finished_jobs(live_api, web_server):
    assert requests.get(f"{web_server}/metrics", timeout=10).status_code == 401

    finished = ("jobs_finished_total", frozenset({("type", "math.add"), ("status", "succeeded")}))
    before = scrape(web_server).get(finished, 0)
    for y in range(3):
        job = submit(live_api, "math.add", x=1, y=y).json()
        assert wait_until_finished(live_api, job["id"])["status"] == "succeeded"
    # The worker counts a job just after its final status commits, so a scrape can come between.
    found = wait_for(
        lambda: (samples := scrape(web_server)).get(finished, 0) >= before + 3 and samples,
        timeout=30,
        what="three more finished jobs counted",
    )

    assert found[finished] == before + 3
    names = {name for name, _ in found}
    for histogram in ("jobs_run_seconds", "jobs_queue_wait_seconds"):
        assert found[f"{histogram}_count", frozenset({("type", "math.add")})] >= 3
        assert f"{histogram}_bucket" in names
    assert ("jobs_unfinished", frozenset({("queue", "default"), ("status", "queued")})) in found
    assert ("jobs_oldest_queued_age_seconds", frozenset({("queue", "default")})) in found
    assert found["jobs_workers_alive", frozenset()] >= 1

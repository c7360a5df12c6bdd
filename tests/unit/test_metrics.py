"""/metrics in-process: the token, the ledger's gauges, the counters, and no user data."""

from datetime import timedelta
from unittest import mock

import pytest
import requests
from django.db import OperationalError
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.services import operate
from ops import exposition
from tests.conftest import free_port, metric_samples
from webhooks.models import WebhookDelivery
from webhooks.services import _outcome

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return metric_samples(response.content.decode())


def test_without_a_token_set_metrics_are_open(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_HOST="10.244.1.17:8000").status_code == 200


def test_with_a_token_set_metrics_ask_for_it(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_the_backlog_and_its_age_are_counted_in_the_ledger_per_queue(client, user):
    waited = timezone.now() - timedelta(seconds=90)
    for _ in range(2):
        Job.objects.create(owner=user, type="math.add", queue="default", queued_at=waited)
    Job.objects.create(owner=user, type="math.add", queue="long", status=JobStatus.RUNNING)
    Job.objects.create(owner=user, type="math.add", queue="long", status=JobStatus.SUCCEEDED)

    found = scrape(client)
    assert found["jobs_unfinished", frozenset({("queue", "default"), ("status", "queued")})] == 2
    assert found["jobs_unfinished", frozenset({("queue", "long"), ("status", "running")})] == 1
    assert found["jobs_unfinished", frozenset({("queue", "long"), ("status", "queued")})] == 0
    assert 90 <= found["jobs_oldest_queued_age_seconds", frozenset({("queue", "default")})] < 150
    assert found["jobs_oldest_queued_age_seconds", frozenset({("queue", "long")})] == 0


@pytest.mark.django_db(transaction=True)
def test_each_cancelled_job_counts_as_finished_once_committed(client, user):
    key = ("jobs_finished_total", frozenset({("type", "math.add"), ("status", "cancelled")}))
    before = scrape(client).get(key, 0)
    jobs = [Job.objects.create(owner=user, type="math.add", queued_at=timezone.now()) for _ in range(3)]
    operate.jobs_cancel(job_ids=[job.pk for job in jobs] + [jobs[0].pk])
    assert scrape(client)[key] == before + 3


def test_no_params_or_owner_reach_a_label(client, user):
    Job.objects.create(owner=user, type="math.add", params={"x": "params-secret"}, queued_at=timezone.now())
    text = client.get("/metrics").content.decode()
    assert "params-secret" not in text and user.username not in text


def test_a_ledger_that_cannot_be_read_leaves_its_series_out_not_the_scrape(client):
    with mock.patch("jobs.metrics.connection.cursor", side_effect=OperationalError("server closed")):
        found = scrape(client)
    assert not any(name == "jobs_unfinished" for name, _ in found)


@pytest.mark.parametrize(
    "delivery, outcome",
    [
        (WebhookDelivery(delivered=True, status_code=204), "delivered"),
        (WebhookDelivery(delivered=False, status_code=500), "rejected"),
        (WebhookDelivery(delivered=False, status_code=None), "error"),
    ],
)
def test_webhook_deliveries_are_counted_by_outcome(delivery, outcome):
    assert _outcome(delivery) == outcome


def test_a_worker_serves_its_own_metrics_behind_the_same_token(settings):
    settings.METRICS_TOKEN = "s3cret"
    port = free_port()
    server = exposition.metrics_server_start(host="127.0.0.1", port=port)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert requests.get(url, timeout=5).status_code == 401
        answer = requests.get(url, headers={"Authorization": "Bearer s3cret"}, timeout=5)
        assert answer.status_code == 200
        assert "jobs_workers_alive" in answer.text
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 404
    finally:
        server.shutdown()
        server.server_close()

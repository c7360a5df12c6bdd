import json
import re
import time
from pathlib import Path
from unittest import mock

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult
from rest_framework.test import APIClient

from jobs.models import Job, JobStatus
from jobs.signals import job_finished
from tests.local_server import LocalServer
from webhooks import services, signing, tasks
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[2] / "README.md"
OK = (200, {}, b"ok")
ERROR = (500, {}, b"try again")


@pytest.fixture
def loopback(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = True


def finished_job(*, owner, callback_url: str) -> Job:
    """A math.add job as the worker leaves it: succeeded, with its result stored."""
    now = timezone.now()
    job = Job.objects.create(
        owner=owner,
        type="math.add",
        params={"x": 2, "y": 3},
        status=JobStatus.SUCCEEDED,
        callback_url=callback_url,
        attempts=1,
        started_at=now,
        finished_at=now,
    )
    TaskResult.objects.create(task_id=str(job.pk), status="SUCCESS", result="5")
    return job


def documented_verify():
    """The receiver code in the README, run as a reader would paste it."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    (code,) = [block for block in blocks if "def verify_webhook" in block]
    namespace = {}
    exec(code, namespace)
    return namespace["verify_webhook"]


def attempts(job):
    return list(job.webhook_deliveries.order_by("attempt").values_list("attempt", "status_code", "delivered"))


# --- Signing ---------------------------------------------------------------------------------


def test_it_verifies_what_it_signed():
    header = signing.sign("whsec_key", b'{"id": 1}')
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert signing.verify("whsec_key", header, b'{"id": 1}')
    a_while_ago = signing.sign("whsec_key", b"{}", timestamp=int(time.time()) - 250)
    assert signing.verify("whsec_key", a_while_ago, b"{}", tolerance_s=300)


BODY = b'{"id": 1}'
HOUR = 3600


def signed_now(offset_s: int = 0) -> str:
    return signing.sign("whsec_key", BODY, timestamp=int(time.time()) + offset_s)


# Headers are made when the test runs, not when pytest collects it: the suite runs for minutes,
# and a header made at collection could age past the tolerance and fail for the wrong reason.
@pytest.mark.parametrize(
    ("secret", "make_header", "body"),
    [
        ("whsec_key", signed_now, b'{"id": 2}'),
        ("whsec_other", signed_now, BODY),
        ("whsec_key", lambda: signed_now(-HOUR), BODY),
        ("whsec_key", lambda: signed_now(HOUR), BODY),
        ("whsec_key", lambda: signed_now().split(",")[1], BODY),
        ("whsec_key", lambda: "t=abc,v1=00", BODY),
        ("whsec_key", lambda: "", BODY),
    ],
    ids=["tampered body", "wrong secret", "too old", "from the future", "no timestamp", "garbage", "empty"],
)
def test_it_rejects_a_signature_that_does_not_match(secret, make_header, body):
    header = make_header()
    assert not signing.verify(secret, header, body)
    assert not documented_verify()(secret, header, body)


def test_the_documented_receiver_code_accepts_what_signing_signs():
    assert documented_verify()("whsec_key", signing.sign("whsec_key", b"{}"), b"{}")


# --- Delivering ---------------------------------------------------------------------------------


def test_it_retries_a_failed_attempt_and_logs_every_attempt(user, loopback):
    with LocalServer(ERROR, OK) as receiver:
        job = finished_job(owner=user, callback_url=receiver.url("/hooks"))
        retry_in = services.webhook_deliver(job_id=job.pk, attempt=1)
        assert 0 <= retry_in <= services.WEBHOOK_BACKOFF_BASE_S
        assert services.webhook_deliver(job_id=job.pk, attempt=2) is None

    assert attempts(job) == [(1, 500, False), (2, 200, True)]
    first, second = job.webhook_deliveries.order_by("attempt")
    assert (first.url, first.error, second.error) == (receiver.url("/hooks"), "", "")
    assert first.duration_ms is not None and second.duration_ms is not None
    request = receiver.received[1]
    assert (request.method, request.path, request.headers["Content-Type"]) == (
        "POST",
        "/hooks",
        "application/json",
    )
    body = json.loads(request.body)
    assert (body["id"], body["status"], body["result"], body["error"]) == (str(job.pk), "succeeded", 5, None)
    secret = services.webhook_secret_get(user=user)
    assert signing.verify(secret, request.headers["Webhook-Signature"], request.body)


def test_the_documented_receiver_code_verifies_a_real_delivery(user, loopback):
    with LocalServer(OK) as receiver:
        job = finished_job(owner=user, callback_url=receiver.url())
        services.webhook_deliver(job_id=job.pk, attempt=1)
    (request,) = receiver.received
    secret = services.webhook_secret_get(user=user)
    assert documented_verify()(secret, request.headers["Webhook-Signature"], request.body)


def test_the_task_retries_until_the_receiver_accepts(user, loopback):
    with LocalServer(ERROR, (503, {}, b""), OK) as receiver:
        job = finished_job(owner=user, callback_url=receiver.url())
        # apply() runs a Celery retry at once, in-process, instead of after its countdown.
        tasks.deliver.apply(kwargs={"job_id": str(job.pk)})
    assert attempts(job) == [(1, 500, False), (2, 503, False), (3, 200, True)]


def test_it_gives_up_after_the_last_attempt(user, loopback, monkeypatch):
    monkeypatch.setattr(services, "WEBHOOK_MAX_ATTEMPTS", 3)
    with LocalServer(ERROR) as receiver:
        job = finished_job(owner=user, callback_url=receiver.url())
        tasks.deliver.apply(kwargs={"job_id": str(job.pk)})
    assert attempts(job) == [(1, 500, False), (2, 500, False), (3, 500, False)]


def test_a_connection_error_is_a_failed_attempt_with_its_error(user, loopback):
    with LocalServer(OK) as receiver:
        url = receiver.url()
    job = finished_job(owner=user, callback_url=url)  # nothing listens there any more
    assert services.webhook_deliver(job_id=job.pk, attempt=1) is not None
    delivery = job.webhook_deliveries.get()
    assert (delivery.status_code, delivery.delivered) == (None, False)
    assert delivery.error.startswith("ConnectionError: ")


def test_an_unsafe_callback_url_is_logged_once_and_never_contacted(user, settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    with LocalServer(OK) as receiver:
        job = finished_job(owner=user, callback_url=receiver.url("/hooks"))
        tasks.deliver.apply(kwargs={"job_id": str(job.pk)})
    assert receiver.received == []
    delivery = job.webhook_deliveries.get()
    assert (delivery.attempt, delivery.status_code, delivery.duration_ms, delivery.delivered) == (
        1,
        None,
        None,
        False,
    )
    assert delivery.error.startswith("UnsafeURL: 127.0.0.1 is a loopback address")


def test_a_second_run_of_the_same_attempt_sends_nothing(user, loopback):
    with LocalServer(OK) as receiver:
        job = finished_job(owner=user, callback_url=receiver.url())
        services.webhook_deliver(job_id=job.pk, attempt=1)
        assert services.webhook_deliver(job_id=job.pk, attempt=1) is None
    assert len(receiver.received) == 1
    assert attempts(job) == [(1, 200, True)]


def test_the_backoff_doubles_up_to_the_cap_with_full_jitter():
    with mock.patch("random.uniform", side_effect=lambda low, high: (low, high)):
        bounds = [services.webhook_retry_delay(attempt=n) for n in (2, 3, 4, 8, 20)]
    assert bounds == [(0, 1.0), (0, 2.0), (0, 4.0), (0, 64.0), (0, 600.0)]


# --- From the job_finished signal ---------------------------------------------------------------


@pytest.fixture
def publish():
    with mock.patch.object(tasks.deliver, "apply_async") as apply_async:
        yield apply_async


def test_a_finished_job_with_a_callback_url_publishes_its_first_attempt(
    user, publish, django_capture_on_commit_callbacks
):
    job = finished_job(owner=user, callback_url="https://example.com/hooks")
    with django_capture_on_commit_callbacks(execute=True):
        job_finished.send(sender=Job, job_id=job.pk, status=job.status, callback_url=job.callback_url)
    publish.assert_called_once_with(kwargs={"job_id": str(job.pk), "attempt": 1})


def test_a_finished_job_without_a_callback_url_publishes_nothing(
    user, publish, django_capture_on_commit_callbacks
):
    job = finished_job(owner=user, callback_url="")
    with django_capture_on_commit_callbacks(execute=True):
        job_finished.send(sender=Job, job_id=job.pk, status=job.status, callback_url=job.callback_url)
    publish.assert_not_called()


def test_a_broker_outage_does_not_disturb_the_sender_of_job_finished(
    user, publish, django_capture_on_commit_callbacks
):
    publish.side_effect = ConnectionError("Redis is down")
    job = finished_job(owner=user, callback_url="https://example.com/hooks")
    with django_capture_on_commit_callbacks(execute=True):
        job_finished.send(sender=Job, job_id=job.pk, status=job.status, callback_url=job.callback_url)
    publish.assert_called_once()


# --- The API ------------------------------------------------------------------------------------


def test_it_keeps_the_secret_until_it_is_rotated(api):
    first = api.get("/api/webhooks/secret/").json()["secret"]
    assert first.startswith("whsec_")
    assert api.get("/api/webhooks/secret/").json()["secret"] == first
    rotated = api.post("/api/webhooks/secret/rotate/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in {first, ""}
    assert api.get("/api/webhooks/secret/").json() == rotated.json()


def test_the_webhook_endpoints_need_credentials():
    client = APIClient()
    assert client.get("/api/webhooks/secret/").status_code == 401
    assert client.post("/api/webhooks/secret/rotate/").status_code == 401
    assert client.get("/api/webhooks/deliveries/").status_code == 401


def test_it_lists_only_your_own_deliveries(api, user, other_user):
    mine = finished_job(owner=user, callback_url="https://example.com/mine")
    theirs = finished_job(owner=other_user, callback_url="https://example.com/theirs")
    for job in (mine, theirs):
        WebhookDelivery.objects.create(
            job=job, url=job.callback_url, attempt=1, status_code=200, delivered=True
        )

    listed = api.get("/api/webhooks/deliveries/").json()["results"]
    assert [(d["job"], d["url"], d["attempt"], d["status_code"]) for d in listed] == [
        (str(mine.pk), "https://example.com/mine", 1, 200)
    ]
    assert len(api.get(f"/api/webhooks/deliveries/?job={mine.pk}").json()["results"]) == 1
    assert api.get(f"/api/webhooks/deliveries/?job={theirs.pk}").json()["results"] == []
    assert api.get("/api/webhooks/deliveries/?job=not-a-uuid").status_code == 400


def test_the_admin_lists_deliveries_read_only_and_hides_secrets(admin_client, user):
    job = finished_job(owner=user, callback_url="https://example.com/hooks")
    WebhookDelivery.objects.create(job=job, url=job.callback_url, attempt=1, error="ConnectionError: refused")
    services.webhook_secret_get(user=user)
    page = admin_client.get("/admin/webhooks/webhookdelivery/?delivered__exact=0")
    assert page.status_code == 200
    assert "ConnectionError: refused" in page.content.decode()
    assert admin_client.get("/admin/webhooks/webhookdelivery/add/").status_code == 403
    assert admin_client.get("/admin/webhooks/webhooksecret/").status_code == 404


@pytest.mark.parametrize("header", ["t=²,v1=abc", "t=NOW,v1=é", "t=,v1=", "v1=abc", "garbage", ""])
def test_a_crafted_signature_header_is_refused_not_raised_on(header):
    header = header.replace("NOW", str(int(time.time())))  # a fresh time reaches the comparison
    for verify in (signing.verify, documented_verify()):
        assert verify("whsec_key", header, b"{}") is False


def test_a_webhook_lost_with_redis_at_finish_is_scheduled_by_the_reconciler(
    user, publish, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    owed = finished_job(owner=user, callback_url="https://example.com/hooks")
    finished_job(owner=user, callback_url="https://example.com/hooks")  # just now: may be on its way
    no_callback = finished_job(owner=user, callback_url="")
    Job.objects.filter(pk__in=[owed.pk, no_callback.pk]).update(
        finished_at=timezone.now() - timedelta(minutes=5)
    )

    with django_capture_on_commit_callbacks(execute=True):
        tasks.reconcile.apply()
    assert [call.kwargs["kwargs"]["job_id"] for call in publish.call_args_list] == [str(owed.pk)]

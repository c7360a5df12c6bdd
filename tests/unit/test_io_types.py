import hashlib
import smtplib
import socket

import pytest
from rest_framework.exceptions import ValidationError

from common import netguard
from jobs import builtin_io_types
from jobs.models import JobStatus
from jobs.registry import job_type_get
from jobs.services.submit import job_create, job_params_validate, job_spec_build
from tests.conftest import run_job
from tests.local_server import LocalServer


def run(type, **params):
    """Validate the params as the API does, then call the job function as the worker does."""
    return job_type_get(type).func(None, **job_params_validate(type=type, params=params))


def params_errors(type, **params) -> dict:
    with pytest.raises(ValidationError) as raised:
        job_params_validate(type=type, params=params)
    return raised.value.detail["params"]


# --- data.process -------------------------------------------------------------------------------


def test_it_summarizes_keys_types_and_numbers_of_nested_data():
    data = {
        "name": "sensor",
        "active": True,
        "readings": [1, 2.5, 3, None],
        "rows": [{"price": 10, "tags": ["a"]}, {"price": 30, "tags": []}],
        "meta": {"count": 7, "unit": "C"},
    }
    assert run("data.process", data=data) == {
        "keys": ["name", "active", "readings", "rows", "meta"],
        "key_count": 5,
        "types": {"object": 3, "array": 4, "string": 3, "number": 6, "boolean": 1, "null": 1},
        "numbers": {
            "meta.count": {"count": 1, "min": 7, "max": 7, "mean": 7.0, "sum": 7},
            "readings[]": {"count": 3, "min": 1, "max": 3, "mean": 6.5 / 3, "sum": 6.5},
            "rows[].price": {"count": 2, "min": 10, "max": 30, "mean": 20.0, "sum": 40},
        },
    }


def test_it_summarizes_an_empty_object():
    assert run("data.process", data={}) == {
        "keys": [],
        "key_count": 0,
        "types": {"object": 0, "array": 0, "string": 0, "number": 0, "boolean": 0, "null": 0},
        "numbers": {},
    }


def test_it_walks_data_deeper_than_the_recursion_limit():
    deep = {"n": 1}
    for _ in range(5000):
        deep = {"d": deep}
    summary = builtin_io_types.process(None, data=deep)
    assert (summary["types"]["object"], summary["types"]["number"]) == (5000, 1)


def test_it_refuses_data_that_is_not_an_object_or_too_large():
    assert "data" in params_errors("data.process", data=[1, 2])
    too_large = {"blob": "x" * builtin_io_types.DATA_MAX_BYTES}
    assert params_errors("data.process", data=too_large)["data"][0].startswith("The data is 1000011 bytes")


# --- email.send ---------------------------------------------------------------------------------


def test_it_sends_one_email_to_every_address(mailoutbox, settings):
    settings.DEFAULT_FROM_EMAIL = "jobs@example.com"
    result = run("email.send", to=["a@example.com", "b@example.com"], subject="Report", body="All done.\n")
    assert result == {"sent": 1, "to": ["a@example.com", "b@example.com"]}
    (message,) = mailoutbox
    assert (message.to, message.subject, message.body) == (
        ["a@example.com", "b@example.com"],
        "Report",
        "All done.\n",
    )
    assert message.from_email == "jobs@example.com"


def test_it_takes_a_single_address_too(mailoutbox):
    assert run("email.send", to="a@example.com", subject="Hi", body="Hello") == {
        "sent": 1,
        "to": ["a@example.com"],
    }
    assert mailoutbox[0].to == ["a@example.com"]


def test_it_refuses_bad_addresses_and_multi_line_subjects():
    assert "to" in params_errors("email.send", to=["not-an-email"], subject="Hi", body="x")
    assert "to" in params_errors("email.send", to=[], subject="Hi", body="x")
    assert "subject" in params_errors(
        "email.send", to="a@example.com", subject="Hi\nBcc: x@evil.test", body="x"
    )


def test_email_send_declares_its_retries():
    email = job_type_get("email.send")
    assert (email.retry_on, email.max_retries) == ((smtplib.SMTPException, ConnectionError, TimeoutError), 3)


# --- http.fetch ---------------------------------------------------------------------------------


def test_it_fetches_a_url_and_describes_the_response(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    content = b"<h1>hello</h1>" * 1000
    target = LocalServer((200, {"Content-Type": "text/html"}, content))
    with target, LocalServer((301, {"Location": target.url("/page")}, b"")) as start:
        result = run("http.fetch", url=start.url("/old"))
    assert result == {
        "status_code": 200,
        "content_type": "text/html",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "final_url": target.url("/page"),
    }


@pytest.fixture
def names_resolve_to_metadata(monkeypatch):
    """Every host name resolves to the cloud metadata address, as a hostile DNS record can."""
    answer = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
    monkeypatch.setattr("socket.getaddrinfo", lambda *args, **kwargs: answer)


def test_it_fails_with_unsafe_url_for_the_metadata_address(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    with pytest.raises(netguard.UnsafeURL):
        builtin_io_types.http_fetch(None, url="http://169.254.169.254/latest/meta-data/")


def test_a_name_resolving_to_the_metadata_address_passes_validation_and_fails_the_fetch(
    names_resolve_to_metadata,
):
    with pytest.raises(netguard.UnsafeURL):
        run("http.fetch", url="http://innocent.example.com/latest/meta-data/")


@pytest.mark.django_db
def test_an_unsafe_fetch_ends_the_job_failed_with_unsafe_url_and_no_retry(
    user, names_resolve_to_metadata, publish
):
    spec = job_spec_build(type="http.fetch", params={"url": "http://innocent.example.com/"})
    job, _ = job_create(owner=user, spec=spec)
    run_job(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error_type, job.attempts) == (JobStatus.FAILED, "UnsafeURL", 1)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://metadata.google.internal/",
        "file:///etc/passwd",
        "gopher://example.com/",
    ],
)
def test_an_obviously_unsafe_url_is_refused_at_submit(settings, url):
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    assert "url" in params_errors("http.fetch", url=url)

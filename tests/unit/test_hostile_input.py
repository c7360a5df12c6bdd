"""Bad input and outages get a clear JSON answer: never a 500, an HTML page or a traceback."""

from unittest import mock

import pytest
import redis
from django.db import OperationalError

from jobs import selectors
from jobs.models import Job
from tests.conftest import run_job

pytestmark = pytest.mark.django_db


def test_an_oversized_body_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"type": "text.uppercase", "params": {"text": "x" * 20_000}}
    response = api.post("/api/jobs/", body, format="json")
    assert (response.status_code, response.json()) == (413, {"detail": "The request body is too large."})


def test_a_wrong_content_type_is_a_415(api):
    response = api.post("/api/jobs/", "type=math.add", content_type="text/plain")
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


def test_malformed_json_is_a_400(api):
    response = api.post("/api/jobs/", '{"type": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


@pytest.mark.parametrize("outage", [OperationalError("connection refused"), redis.ConnectionError("refused")])
def test_an_outage_is_a_503_with_retry_after(api, outage):
    with mock.patch.object(selectors, "job_list", side_effect=outage):
        response = api.get("/api/jobs/")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json() == {"detail": "The service is briefly unavailable; please retry shortly."}


def test_a_result_json_cannot_hold_fails_the_job_instead_of_breaking_the_api(api, user):

    job = Job.objects.create(owner=user, type="test.infinite")
    run_job(str(job.pk))
    response = api.get(f"/api/jobs/{job.pk}/")
    assert response.status_code == 200
    assert response.json()["error"] == {
        "type": "ResultNotJSON",
        "message": "The job's result cannot be stored: Numbers must be finite (no NaN or infinity).",
    }
    assert api.get("/api/jobs/").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        '{"type": "data.process", "params": {"data": {"a": 1e999}}}',
        '{"type": "text.uppercase", "params": {"text": "a\\u0000b"}}',
    ],
)
def test_values_the_database_cannot_store_are_a_400_not_a_503(api, body):
    response = api.post("/api/jobs/", body, content_type="application/json")
    assert response.status_code == 400
    assert "params" in response.json()
    assert not Job.objects.exists()


def test_the_params_check_refuses_what_jsonb_cannot_hold():
    from jobs.services.submit import json_storable_problem

    assert (
        json_storable_problem({"a": [1, {"b": float("inf")}]})
        == "Numbers must be finite (no NaN or infinity)."
    )
    assert json_storable_problem({"a": "x\x00y"}) == "Text must not contain NUL characters."
    assert json_storable_problem({"a": [1.5, "ok"]}) == ""


def test_a_backslash_before_u0000_is_text_and_params_too_deep_are_refused():
    from jobs.services.submit import json_storable_problem

    assert json_storable_problem({"path": "C:\\u0000x"}) == ""
    deep: object = 1
    for _ in range(100):
        deep = [deep]
    assert json_storable_problem({"a": deep}) == "It nests more than 100 levels of arrays and objects."

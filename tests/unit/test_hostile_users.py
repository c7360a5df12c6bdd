"""Hostile or careless users: no access without credentials, none to others' data, limits."""

import uuid
from unittest import mock

import pytest
from django.core.cache import cache
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from jobs.models import Job, Workflow

pytestmark = pytest.mark.django_db

PUBLIC = {"/api/auth/token/", "/api/schema/", "/api/docs/"}


def api_paths(resolver=None):
    """Every named route under /api/, reversed with a fresh UUID for each of its arguments."""
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            yield from api_paths(pattern)
        elif isinstance(pattern, URLPattern) and pattern.name:
            arguments = {name: str(uuid.uuid4()) for name in pattern.pattern.regex.groupindex}
            if "format" in arguments:  # the .json/.api suffix twins of the same views
                continue
            try:
                path = reverse(pattern.name, kwargs=arguments)
            except NoReverseMatch:  # a name shared with another app's route
                continue
            if path.startswith("/api/"):
                yield path


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()


def test_the_sweep_finds_the_endpoints_it_should():
    paths = set(api_paths())
    assert {"/api/jobs/", "/api/jobs/batch/", "/api/workflows/", "/api/webhooks/secret/"} <= paths
    assert any(p.endswith("/cancel/") for p in paths)


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_non_public_api_route_answers_401_without_credentials(method):
    client = APIClient()
    for path in set(api_paths()) - PUBLIC:
        response = getattr(client, method)(path)
        assert response.status_code in {401, 405}, (path, response.status_code)
        if response.status_code == 405:
            assert getattr(client, "get" if method == "post" else "post")(path).status_code == 401, path


def test_user_b_reaches_none_of_user_as_jobs_or_workflows(api, other_user):
    job = Job.objects.create(owner=other_user, type="math.add", params={"x": 1, "y": 2}, status="failed")
    workflow = Workflow.objects.create(owner=other_user)
    for path in [
        f"/api/jobs/{job.pk}/",
        f"/api/jobs/{job.pk}/events/",
        f"/api/workflows/{workflow.pk}/",
    ]:
        assert api.get(path).status_code == 404, path
    for path in [
        f"/api/jobs/{job.pk}/cancel/",
        f"/api/jobs/{job.pk}/retry/",
        f"/api/workflows/{workflow.pk}/cancel/",
    ]:
        assert api.post(path).status_code == 404, path
    job.refresh_from_db()
    assert job.status == "failed"
    assert api.get(f"/api/webhooks/deliveries/?job={job.pk}").json()["results"] == []


def test_too_many_requests_get_429_with_retry_after(api):
    with mock.patch.dict(UserRateThrottle.THROTTLE_RATES, {"user": "3/min"}):
        codes = [api.get("/api/jobs/").status_code for _ in range(4)]
        refused = api.get("/api/jobs/")
    assert codes == [200, 200, 200, 429]
    assert int(refused["Retry-After"]) > 0


def test_a_user_at_the_active_job_cap_gets_429_until_jobs_finish(api, user, settings, publish):
    settings.JOB_MAX_ACTIVE_PER_USER = 2
    body = {"type": "math.add", "params": {"x": 1, "y": 2}}
    assert [api.post("/api/jobs/", body, format="json").status_code for _ in range(2)] == [202, 202]
    refused = api.post("/api/jobs/", body, format="json")
    batch = api.post("/api/jobs/batch/", {"jobs": [body]}, format="json")
    Job.objects.filter(owner=user).update(status="succeeded")
    accepted = api.post("/api/jobs/", body, format="json")
    assert (refused.status_code, batch.status_code, accepted.status_code) == (429, 429, 202)
    assert "the limit is 2" in refused.json()["detail"]
    assert refused["Retry-After"]

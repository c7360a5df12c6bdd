import re
import uuid

import pytest
from rest_framework.test import APIClient

from jobs.models import Job
from tests.conftest import run_job

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("publish")]


def submit(api, type, **params):
    return api.post("/api/jobs/", {"type": type, "params": params}, format="json")


def test_it_accepts_a_job_with_202_a_location_and_the_job(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(api, "math.add", x=2, y=3)
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == body["url"] == f"http://testserver/api/jobs/{body['id']}/"
    assert body["links"]["events"] == f"{body['url']}events/"
    assert body["links"]["cancel"] == f"{body['url']}cancel/"
    assert body["status"] == "queued"
    assert body["params"] == {"x": 2, "y": 3}
    assert (body["result"], body["error"], body["progress"], body["attempts"]) == (None, None, None, 0)
    assert set(body) >= {
        "id",
        "type",
        "params",
        "status",
        "progress",
        "result",
        "error",
        "attempts",
        "created_at",
        "started_at",
        "finished_at",
        "url",
    }


def test_it_shows_the_result_once_the_job_has_succeeded(api):
    job_id = submit(api, "math.add", x=2, y=3).json()["id"]
    run_job(job_id)
    body = api.get(f"/api/jobs/{job_id}/").json()
    assert (body["status"], body["result"], body["attempts"]) == ("succeeded", 5, 1)


def test_it_shows_the_error_of_a_failed_job_and_no_result(api):
    job_id = submit(api, "math.divide", x=1, y=0).json()["id"]
    run_job(job_id)
    body = api.get(f"/api/jobs/{job_id}/").json()
    assert body["status"] == "failed"
    assert body["result"] is None
    assert body["error"] == {"type": "ZeroDivisionError", "message": "division by zero"}


def test_it_shows_progress_with_a_percentage(api, user):
    job = Job.objects.create(
        owner=user, type="demo.countdown", params={}, progress_current=3, progress_total=8
    )
    progress = api.get(f"/api/jobs/{job.pk}/").json()["progress"]
    assert progress == {"current": 3, "total": 8, "percent": 37.5, "message": ""}


def test_it_refuses_an_unknown_type_naming_the_valid_ones(api):
    response = submit(api, "math.sqrt", x=4)
    assert response.status_code == 400
    message = response.json()["type"][0]
    assert "math.sqrt" in message and "math.add" in message and "demo.countdown" in message


def test_it_refuses_bad_params_with_a_message_per_field(api):
    response = submit(api, "demo.countdown", steps=0, delay_s="slow")
    assert response.status_code == 400
    assert response.json() == {
        "params": {
            "word": ["This field is required."],
            "steps": ["Ensure this value is greater than or equal to 1."],
            "delay_s": ["A valid number is required."],
        }
    }
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"params": {}}, "type"), ({"type": "math.add", "params": [1, 2]}, "params"), ({"type": ""}, "type")],
)
def test_it_refuses_a_malformed_submission(api, body, field):
    response = api.post("/api/jobs/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_it_refuses_params_the_type_does_not_take(api):
    response = submit(api, "math.add", x=1, y=2, z=3)
    assert response.status_code == 400
    assert response.json() == {"params": {"z": ["Unknown parameter."]}}


def test_an_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/nothing-here/")
    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})


def test_malformed_json_is_a_400_not_a_500(api):
    response = api.post("/api/jobs/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/jobs/"), ("post", "/api/jobs/"), ("get", "/api/job-types/"), ("get", "/api/")],
)
def test_it_answers_401_without_credentials(method, path):
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_another_users_job_is_a_404_like_a_missing_one(api, other_user):
    theirs = Job.objects.create(owner=other_user, type="math.add", params={"x": 1, "y": 1})
    assert api.get(f"/api/jobs/{theirs.pk}/").status_code == 404
    assert api.get(f"/api/jobs/{uuid.uuid4()}/").status_code == 404
    not_a_uuid = api.get("/api/jobs/not-a-uuid/")
    assert (not_a_uuid.status_code, not_a_uuid.json()) == (404, {"detail": "Not found."})
    assert api.get("/api/jobs/").json()["results"] == []


def test_it_lists_own_jobs_newest_first_filtered_by_status_and_type(api, user):
    first = Job.objects.create(owner=user, type="math.add", params={}, status="succeeded")
    second = Job.objects.create(owner=user, type="text.uppercase", params={}, status="failed")
    third = Job.objects.create(owner=user, type="math.add", params={}, status="failed")

    def ids(query=""):
        return [job["id"] for job in api.get(f"/api/jobs/{query}").json()["results"]]

    assert ids() == [str(third.pk), str(second.pk), str(first.pk)]
    assert ids("?status=failed") == [str(third.pk), str(second.pk)]
    assert ids("?type=math.add") == [str(third.pk), str(first.pk)]
    assert ids("?status=failed&type=math.add") == [str(third.pk)]


def test_it_refuses_an_unknown_status_filter(api):
    response = api.get("/api/jobs/?status=finished")
    assert response.status_code == 400
    assert "status" in response.json()


def test_it_pages_with_a_cursor(api, user):
    for n in range(5):
        Job.objects.create(owner=user, type="math.add", params={"n": n})
    page = api.get("/api/jobs/?page_size=2").json()
    seen = [job["params"]["n"] for job in page["results"]]
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [job["params"]["n"] for job in page["results"]]
    assert seen == [4, 3, 2, 1, 0]


def test_it_lists_job_types_with_a_params_schema(api):
    types = {t["name"]: t for t in api.get("/api/job-types/").json()}
    assert {"text.uppercase", "math.add", "math.divide", "demo.countdown"} <= set(types)
    divide = types["math.divide"]
    assert "ZeroDivisionError" in divide["description"]
    assert divide["params_schema"]["required"] == ["y"]
    assert divide["params_schema"]["anyOf"] == [{"required": ["x"]}, {"required": ["previous"]}]
    assert divide["params_schema"]["properties"]["y"] == {"type": "number"}
    assert divide["params_schema"]["properties"]["x"]["description"].startswith("In a workflow")


def test_it_trades_a_username_and_password_for_a_token_that_works(user):
    client = APIClient()
    response = client.post(
        "/api/auth/token/", {"username": "alice", "password": "alice-password"}, format="json"
    )
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/jobs/").status_code == 200


def test_it_refuses_a_token_for_a_wrong_password(user):
    response = APIClient().post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_the_openapi_schema_documents_the_job_endpoints():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/jobs/", "/api/jobs/{id}/", "/api/job-types/"} <= set(paths)
    assert "202" in paths["/api/jobs/"]["post"]["responses"]


def test_the_openapi_schema_documents_each_types_params():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]

    def resolve(ref_holder):
        return components[ref_holder["$ref"].split("/")[-1]]

    body = resolve(
        schema["paths"]["/api/jobs/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    assert body["discriminator"]["propertyName"] == "type"
    divide = resolve({"$ref": body["discriminator"]["mapping"]["math.divide"]})
    params = resolve(divide["properties"]["params"])
    assert params["properties"]["y"]["type"] == "number"
    for path in ["/api/jobs/{id}/events/", "/api/jobs/{id}/cancel/", "/api/jobs/batch/", "/api/workflows/"]:
        assert path in schema["paths"]


def test_the_swagger_ui_is_served_without_a_cdn(client):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(not asset.startswith(("http:", "https:", "//")) for asset in assets), assets
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page


def test_the_browsable_api_renders_a_submit_form(client, user):
    client.force_login(user)
    page = client.get("/api/jobs/", HTTP_ACCEPT="text/html").content.decode()
    assert '<select class="form-control" name="type">' in page
    assert '<option value="math.add"' in page
    assert '<textarea name="params"' in page


def test_the_browsable_api_form_submits_params_as_json(client, user):
    client.force_login(user)
    response = client.post(
        "/api/jobs/", {"type": "math.add", "params": '{"x": 1, "y": 2}'}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 202
    assert response.json()["params"] == {"x": 1, "y": 2}

"""Hostile input at the edges, against the live web server (uvicorn, as bin/web runs it): each
test speaks from a loopback address of its own (127.0.0.x), so its throttles and lockouts are
its own too."""

import base64
import re

import pytest
import requests
from django.utils import timezone
from rest_framework.authtoken.models import Token

from jobs.models import Job
from reports import services as report_services
from tests.conftest import Process, free_port, wait_for_http
from tests.e2e.helpers import session_from, start_web

PASSWORD = "the-right-password-1"


@pytest.fixture
def live(transactional_db, web_server, web_process):
    return web_server


@pytest.fixture
def users(django_user_model):
    # The bystander is staff, so that the admin lets them in too.
    return {
        name: django_user_model.objects.create_user(name, password=PASSWORD, is_staff=name == "bystander")
        for name in ("victim", "bystander", "-2+3")
    }


def test_guessing_a_password_on_the_token_endpoint_meets_a_429_and_spares_others(live, users):
    def token_login(session, username, password):
        return session.post(
            f"{live}/api/auth/token/", json={"username": username, "password": password}, timeout=10
        )

    home = session_from("127.0.0.13")
    assert token_login(home, "victim", PASSWORD).status_code == 200  # the victim's own address
    attacker = session_from("127.0.0.2")
    answers = [token_login(attacker, "victim", f"guess-{n}") for n in range(30)]
    codes = [answer.status_code for answer in answers]
    first = codes.index(429)
    assert first < 29 and set(codes[:first]) == {400}
    assert int(answers[first].headers["Retry-After"]) > 0
    assert answers[first].json()["detail"].startswith("Too many failed logins")
    # The right password does not get the attacker in either.
    assert token_login(attacker, "victim", PASSWORD).status_code == 429
    # Another user, from another address, logs in.
    other = token_login(session_from("127.0.0.3"), "bystander", PASSWORD)
    assert other.status_code == 200 and other.json()["token"]
    # The victim's username is locked, from anywhere new, but not at the victim's own address.
    assert token_login(session_from("127.0.0.14"), "victim", PASSWORD).status_code == 429
    assert token_login(home, "victim", PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("path", "address"), [("/admin/login/", "127.0.0.4"), ("/api-auth/login/", "127.0.0.5")]
)
def test_the_admin_and_browsable_api_logins_lock_out_the_same_way(live, users, path, address):
    def login(session, username, password):
        session.get(f"{live}{path}", timeout=10)
        form = {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        }
        return session.post(f"{live}{path}", data=form, allow_redirects=False, timeout=10)

    attacker = session_from(address)
    codes = [login(attacker, "victim", f"guess-{n}").status_code for n in range(12)]
    first = codes.index(429)
    assert first < 11 and set(codes[:first]) == {200}  # the form again, with its error
    locked = login(attacker, "victim", PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    other = login(session_from("127.0.0.6"), "bystander", PASSWORD)
    assert other.status_code == 302  # logged in, sent on


def nested_text(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def test_params_nested_ten_thousand_deep_are_a_400_with_nothing_at_error(live, users, web_process):
    token = Token.objects.create(user=users["victim"]).key
    api = session_from("127.0.0.7")
    api.headers.update({"Authorization": f"Token {token}", "Content-Type": "application/json"})
    job = f'{{"type": "data.process", "params": {{"data": {{"a": {nested_text(10_000)}}}}}}}'
    log_before = len(web_process.log())
    for path, body in (("/api/jobs/", job), ("/api/jobs/batch/", f'{{"jobs": [{job}]}}')):
        response = api.post(f"{live}{path}", data=body, timeout=10)
        assert response.status_code == 400, response.text
        assert "nests more than 100 levels" in response.json()["detail"]
    anonymous = session_from("127.0.0.7").post(
        f"{live}/api/auth/token/",
        data=f'{{"username": {nested_text(10_000)}, "password": "x"}}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert anonymous.status_code == 400 and "100 levels" in anonymous.json()["detail"]
    assert not re.search(r"\bERROR\b|Traceback", web_process.log()[log_before:])


def test_tampered_cursors_on_every_paginated_endpoint_are_4xx(live, users):
    token = Token.objects.create(user=users["victim"]).key
    api = session_from("127.0.0.8")
    api.headers["Authorization"] = f"Token {token}"
    tampered = base64.b64encode(b"p=notadate").decode()
    for path in ("/api/jobs/", "/api/reports/", "/api/workflows/", "/api/webhooks/deliveries/"):
        response = api.get(f"{live}{path}", params={"cursor": tampered}, timeout=10)
        assert response.status_code == 404 and response.json() == {"detail": "Invalid cursor"}, path
    csv = api.get(f"{live}/api/reports/", params={"cursor": tampered, "format": "csv"}, timeout=10)
    assert csv.status_code == 404 and csv.headers["Content-Type"].startswith("text/csv")
    assert "Invalid cursor" in csv.text


def anonymous_until_throttled(session, url) -> list[int]:
    return [session.get(url, timeout=10).status_code for _ in range(121)]


def test_a_spoofed_x_forwarded_for_does_not_reset_the_anonymous_throttle(live):
    client = session_from("127.0.0.9")
    assert anonymous_until_throttled(client, f"{live}/api/docs/")[-1] == 429
    spoofed = client.get(f"{live}/api/docs/", headers={"X-Forwarded-For": "198.51.100.7"}, timeout=10)
    assert spoofed.status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_counts(transactional_db, live_env, live_logs):
    server, base_url = start_web({**live_env, "TRUSTED_PROXIES": "127.0.0.10"}, live_logs, "web-behind-proxy")
    try:
        proxy = session_from("127.0.0.10")
        assert anonymous_until_throttled(proxy, f"{base_url}/api/docs/")[-1] == 429
        forwarded = proxy.get(
            f"{base_url}/api/docs/", headers={"X-Forwarded-For": "198.51.100.8"}, timeout=10
        )
        assert forwarded.status_code == 200  # another client behind the proxy
    finally:
        server.stop()


def test_a_report_csv_shows_a_formula_like_username_as_text(live, users):
    owner = users["-2+3"]
    report = report_services.report_generate(kind="hour", at=timezone.now(), owner=owner)
    api = session_from("127.0.0.11")
    api.headers["Authorization"] = f"Token {Token.objects.create(user=owner).key}"
    csv = api.get(f"{live}/api/reports/{report.pk}/", params={"format": "csv"}, timeout=10).text
    assert "report,,owner,'-2+3" in csv


def test_a_chunked_body_is_read_and_one_over_the_limit_is_a_413(live, users):
    api = session_from("127.0.0.12")
    api.headers.update(
        {
            "Authorization": f"Token {Token.objects.create(user=users['victim']).key}",
            "Content-Type": "application/json",
        }
    )

    def chunks(*parts: bytes):
        yield from parts  # a generator body: requests sends it chunked

    job = api.post(
        f"{live}/api/jobs/", data=chunks(b'{"type": "math.add", ', b'"params": {"x": 1, "y": 2}}'), timeout=10
    )
    assert job.request.headers["Transfer-Encoding"] == "chunked"
    assert job.status_code == 202, job.text
    assert Job.objects.get(pk=job.json()["id"]).params == {"x": 1, "y": 2}
    big = api.post(f"{live}/api/jobs/", data=chunks(*[b"x" * (1024 * 1024)] * 6), timeout=30)
    assert big.status_code == 413
    assert big.json() == {"detail": "The request body is too large."}


def test_flower_opens_only_its_health_check_and_only_when_told(live_env, live_logs):
    port = free_port()
    env = {**live_env, "FLOWER_PORT": str(port), "FLOWER_OPEN_HEALTHCHECK": "true"}
    flower = Process("flower-open-healthcheck", ["bin/flower"], env, live_logs)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/", status=401, timeout=60, what="Flower", process=flower)
        assert requests.get(f"{url}/healthcheck", timeout=10).text == "OK"
        assert requests.get(f"{url}/metrics", timeout=10).status_code == 401
        assert requests.get(f"{url}/api/workers", timeout=10).status_code == 401
    finally:
        flower.stop()

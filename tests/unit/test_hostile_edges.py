"""Hostile input at the edges: password guessing, nested JSON, tampered cursors, spoofed client
addresses, CSV formulas, chunked bodies. tests/e2e/test_hostile_edges.py tries them on the live web."""

import base64
import io
import json
import logging
import random
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
import redis
from axes.models import AccessAttempt
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from common.api.parsers import JSON_MAX_DEPTH, json_depth
from common.chunked import ChunkedBodyMiddleware
from common.redis_clients import cache_redis
from reports.csv import formula_neutralised
from tests.unit.reports.data import client_for, generate

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-1"


def throttle_counts_cleared(pattern="throttle:*"):
    redis = cache_redis()
    for key in redis.scan_iter(pattern):
        redis.delete(key)


@pytest.fixture(autouse=True)
def no_throttle_counts_or_known_addresses():
    """Throttles and known login addresses live in Redis, which outlives a test's transaction:
    each test starts with none."""
    throttle_counts_cleared()
    throttle_counts_cleared("login-known:*")


def nested(depth: int):
    value: object = 1
    for _ in range(depth - 1):
        value = [value]
    return value


def nested_text(depth: int) -> str:
    """`depth` arrays inside one another, as JSON text: json.dumps recurses too deep to write it."""
    return "[" * depth + "1" + "]" * depth


def test_json_depth_counts_arrays_and_objects_without_recursion():
    assert json_depth(1) == 0
    assert json_depth({"a": [1, {"b": []}]}) == 4
    assert json_depth(nested(50_000)) == JSON_MAX_DEPTH + 1  # it stops counting past the limit


@pytest.mark.parametrize("depth", [101, 10_000])
@pytest.mark.parametrize("path", ["/api/jobs/", "/api/jobs/batch/"])
def test_deeply_nested_params_are_a_400_naming_the_limit(api, path, depth, caplog):
    job = f'{{"type": "data.process", "params": {{"data": {nested_text(depth)}}}}}'
    body = f'{{"jobs": [{job}]}}' if path.endswith("batch/") else job
    with caplog.at_level(logging.ERROR):
        response = api.post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert "nests more than 100 levels" in response.json()["detail"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_params_as_deep_as_the_limit_allows_are_taken(api):
    # The body, its params and their data are 3 levels; 97 arrays inside make 100.
    params = {"data": {"a": nested(98)}}
    response = api.post("/api/jobs/", {"type": "data.process", "params": params}, format="json")
    assert response.status_code == 202, response.json()


def test_an_anonymous_deeply_nested_login_is_a_400(caplog):
    with caplog.at_level(logging.ERROR):
        body = f'{{"username": {nested_text(10_000)}, "password": "x"}}'
        response = APIClient().post("/api/auth/token/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nests more than 100 levels" in response.json()["detail"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


TAMPERED = [
    cursor("p=notadate"),
    cursor("p=2026-13-45"),
    cursor("p="),
    cursor("o=-1&p=notadate"),
    cursor("r=yes"),
    cursor("o=1e9"),
    "not base64 at all",
    "%ff%fe",
    "é",
]
PAGINATED = [
    ("/api/jobs/", {}),
    ("/api/workflows/", {}),
    ("/api/reports/", {}),
    ("/api/reports/", {"format": "csv"}),
    ("/api/webhooks/deliveries/", {}),
]


@pytest.mark.parametrize(("path", "query"), PAGINATED)
def test_tampered_cursors_are_a_404_never_a_500(api, path, query):
    for value in TAMPERED:
        response = api.get(path, {**query, "cursor": value})
        assert response.status_code == 404, (value, response.content)
        if query:
            assert response["Content-Type"].startswith("text/csv")
            assert b"Invalid cursor" in response.content
        else:
            assert response.json() == {"detail": "Invalid cursor"}


def test_a_fuzzed_cursor_is_never_a_server_error(api):
    generator = random.Random(1213)
    keys, values = (
        ["p", "o", "r", "x", ""],
        ["", "0", "-1", "1", "notadate", "2026-12-04 10:00:00+00:00", "\x00"],
    )
    for _ in range(300):
        pairs = [
            f"{generator.choice(keys)}={generator.choice(values)}" for _ in range(generator.randint(0, 3))
        ]
        raw = "&".join(pairs) if generator.random() < 0.8 else generator.randbytes(12).hex()
        for path in ("/api/jobs/", "/api/reports/"):
            response = api.get(path, {"cursor": cursor(raw)})
            assert response.status_code in {200, 400, 404}, (raw, response.content)


def test_csv_cells_that_a_spreadsheet_would_evaluate_are_neutralised():
    for text in ("=1+1", "+2", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert formula_neutralised(text) == "'" + text
    assert formula_neutralised("math.add") == "math.add"
    assert formula_neutralised(-3) == -3
    assert formula_neutralised(2.5) == 2.5


def test_a_report_csv_shows_a_formula_like_username_as_text(django_user_model):
    owner = django_user_model.objects.create_user("-2+3", password=PASSWORD)
    report = generate(owner=owner)
    response = client_for(owner).get(f"/api/reports/{report.pk}/?format=csv")
    assert response.status_code == 200
    assert "report,,owner,'-2+3" in response.content.decode()
    assert "report,,owner,-2+3" not in response.content.decode()


# --- Logins ---------------------------------------------------------------------------


@pytest.fixture
def victim(django_user_model):
    return django_user_model.objects.create_user("victim", password=PASSWORD)


def token_login(client, username, password):
    return client.post("/api/auth/token/", {"username": username, "password": password}, format="json")


def from_address(address: str) -> APIClient:
    return APIClient(REMOTE_ADDR=address)


def test_wrong_passwords_to_the_token_endpoint_meet_a_429_with_retry_after(victim):
    client = from_address("10.1.0.1")
    answers = [token_login(client, "victim", f"wrong-{n}") for n in range(30)]
    codes = [answer.status_code for answer in answers]
    first = codes.index(429)
    assert first == 9 and set(codes[:first]) == {400}  # the 10th failure (LOGIN_FAILURE_LIMIT) locks
    assert "Too many failed logins" in answers[first].json()["detail"]
    assert set(codes[first:]) == {429}  # the lockout, then the address's throttle (20/min) too
    assert all(int(answer["Retry-After"]) > 0 for answer in answers[first:])
    assert token_login(client, "victim", PASSWORD).status_code == 429


def test_the_lockout_holds_for_the_username_from_any_address_but_not_for_another_user(
    victim, django_user_model
):
    django_user_model.objects.create_user("bystander", password=PASSWORD)
    codes = [token_login(from_address(f"10.2.0.{n}"), "victim", "wrong").status_code for n in range(10)]
    assert codes == [400] * 9 + [429]
    assert token_login(from_address("10.2.1.1"), "victim", PASSWORD).status_code == 429
    assert token_login(from_address("10.2.1.2"), "bystander", PASSWORD).status_code == 200


def test_a_lockout_ends_after_its_cool_off_whatever_is_tried_during_it(victim, settings):
    client = from_address("10.3.0.1")
    for _ in range(10):
        token_login(client, "victim", "wrong")
    before = set(AccessAttempt.objects.values_list("attempt_time", flat=True))
    for _ in range(5):  # the attacker keeps trying during the lockout
        assert token_login(client, "victim", "wrong").status_code == 429
    assert set(AccessAttempt.objects.values_list("attempt_time", flat=True)) == before
    AccessAttempt.objects.update(attempt_time=min(before) - timedelta(seconds=settings.LOGIN_COOLOFF_S + 1))
    assert token_login(client, "victim", PASSWORD).status_code == 200


def test_a_failed_login_is_logged_with_the_client_address(victim, caplog):
    with caplog.at_level(logging.WARNING, logger="axes"):
        token_login(from_address("10.4.0.1"), "victim", "wrong")
    assert any(
        "10.4.0.1" in record.getMessage() and "victim" in record.getMessage() for record in caplog.records
    )


@pytest.mark.parametrize("path", ["/admin/login/", "/api-auth/login/"])
def test_the_admin_and_browsable_api_logins_lock_out_the_same_way(victim, path):
    client = Client(REMOTE_ADDR="10.5.0.1")
    codes = [client.post(path, {"username": "victim", "password": "wrong"}).status_code for _ in range(10)]
    assert codes == [200] * 9 + [429]  # the form again, until the 10th failure locks
    locked = client.post(path, {"username": "victim", "password": PASSWORD})
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    assert (
        Client(REMOTE_ADDR="10.5.0.2").post(path, {"username": "other", "password": "x"}).status_code == 200
    )


def test_a_user_still_logs_in_from_their_own_address_while_others_lock_their_username(victim):
    home = from_address("10.10.0.1")
    assert token_login(home, "victim", PASSWORD).status_code == 200  # remembered from now on
    guesses = [token_login(from_address(f"10.10.1.{n}"), "victim", "wrong").status_code for n in range(10)]
    assert guesses == [400] * 9 + [429]  # the username is locked out
    assert token_login(from_address("10.10.2.1"), "victim", PASSWORD).status_code == 429
    assert token_login(home, "victim", PASSWORD).status_code == 200
    # The browsable API's login there gets in too.
    session = Client(REMOTE_ADDR="10.10.0.1").post(
        "/api-auth/login/", {"username": "victim", "password": PASSWORD}
    )
    assert session.status_code == 302


def test_a_session_login_remembers_its_address_too(victim):
    assert (
        Client(REMOTE_ADDR="10.11.0.1")
        .post("/api-auth/login/", {"username": "victim", "password": PASSWORD})
        .status_code
        == 302
    )
    for n in range(10):
        token_login(from_address(f"10.11.1.{n}"), "victim", "wrong")
    assert token_login(from_address("10.11.0.1"), "victim", PASSWORD).status_code == 200


def test_a_remembered_address_is_still_locked_by_its_own_failures(victim):
    home = from_address("10.12.0.1")
    assert token_login(home, "victim", PASSWORD).status_code == 200
    codes = [token_login(home, "victim", "wrong").status_code for _ in range(10)]
    assert codes == [400] * 9 + [429]
    locked = token_login(home, "victim", PASSWORD)
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0


def test_a_wrong_password_remembers_nothing(victim):
    token_login(from_address("10.13.0.1"), "victim", "wrong")
    for n in range(10):
        token_login(from_address(f"10.13.1.{n}"), "victim", "wrong")
    assert token_login(from_address("10.13.0.1"), "victim", PASSWORD).status_code == 429


def test_no_address_is_remembered_when_told_to_remember_none(victim, settings):
    settings.LOGIN_KNOWN_ADDRESS_DAYS = 0
    assert token_login(from_address("10.14.0.1"), "victim", PASSWORD).status_code == 200
    for n in range(10):
        token_login(from_address(f"10.14.1.{n}"), "victim", "wrong")
    assert token_login(from_address("10.14.0.1"), "victim", PASSWORD).status_code == 429


def test_the_username_throttle_does_not_keep_a_user_out_of_their_own_address(victim, settings):
    settings.AXES_FAILURE_LIMIT = 1000  # only the throttle is at stake here
    home = from_address("10.15.0.1")
    assert token_login(home, "victim", PASSWORD).status_code == 200
    # 20 attempts a minute at the username (API_THROTTLE_LOGIN), from 20 addresses.
    codes = [token_login(from_address(f"10.15.1.{n}"), "victim", "wrong").status_code for n in range(21)]
    assert codes[-1] == 429
    assert token_login(from_address("10.15.2.1"), "victim", PASSWORD).status_code == 429
    assert token_login(home, "victim", PASSWORD).status_code == 200


def test_when_redis_cannot_be_asked_logins_work_and_the_lockout_applies(victim, django_user_model):
    django_user_model.objects.create_user("bystander", password=PASSWORD)
    assert token_login(from_address("10.16.0.1"), "victim", PASSWORD).status_code == 200  # remembered
    for n in range(10):
        token_login(from_address(f"10.16.1.{n}"), "victim", "wrong")
    down = mock.Mock(side_effect=redis.ConnectionError("Redis is down"))
    with mock.patch("common.logins.cache_redis", return_value=mock.Mock(set=down, exists=down)):
        assert token_login(from_address("10.16.0.1"), "victim", PASSWORD).status_code == 429
        assert token_login(from_address("10.16.0.2"), "bystander", PASSWORD).status_code == 200
    assert down.call_count >= 2


def test_the_token_endpoint_is_throttled_per_address_even_for_good_logins(victim, settings):
    client = from_address("10.6.0.1")
    codes = [token_login(client, "victim", PASSWORD).status_code for _ in range(25)]
    assert codes[:20] == [200] * 20 and codes[20] == 429


def test_a_spoofed_x_forwarded_for_does_not_reset_the_anonymous_throttle():
    client = APIClient(REMOTE_ADDR="10.7.0.1")  # the API docs are open to anonymous clients
    codes = [client.get("/api/docs/").status_code for _ in range(121)]
    assert codes == [200] * 120 + [429]
    spoofed = client.get("/api/docs/", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert spoofed.status_code == 429


# --- Chunked bodies ---------------------------------------------------------------------


def asgi_request(body: bytes, path: str = "/api/jobs/") -> ASGIRequest:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"transfer-encoding", b"chunked"), (b"content-type", b"application/json")],
        "query_string": b"",
    }
    return ASGIRequest(scope, io.BytesIO(body))


def passes_through(request):
    return HttpResponse(request.body, status=200)


def test_a_chunked_body_is_read_and_given_its_length():
    request = asgi_request(b'{"type": "math.add"}')
    response = ChunkedBodyMiddleware(passes_through)(request)
    assert (response.status_code, response.content) == (200, b'{"type": "math.add"}')
    assert request.META["CONTENT_LENGTH"] == "20"


def test_a_chunked_body_over_the_limit_is_a_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = ChunkedBodyMiddleware(passes_through)(asgi_request(b"x" * 1025))
    assert response.status_code == 413


def test_a_chunked_body_the_server_cannot_hand_over_is_a_411():
    request = RequestFactory().post("/api/jobs/", data=b"{}", content_type="application/json")
    del request.META["CONTENT_LENGTH"]
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    response = ChunkedBodyMiddleware(passes_through)(request)
    assert response.status_code == 411
    assert "Content-Length" in json.loads(response.content)["detail"]


def test_logging_in_to_another_account_between_guesses_resets_nothing(victim, django_user_model):
    django_user_model.objects.create_user("attacker", password=PASSWORD)
    client = from_address("10.8.0.1")
    codes = []
    for _ in range(10):
        assert token_login(client, "attacker", PASSWORD).status_code == 200  # their own account
        codes.append(token_login(client, "victim", "wrong").status_code)
        throttle_counts_cleared()  # only axes' count matters here, not the address's rate
    assert codes == [400] * 9 + [429]


def test_a_huge_username_makes_a_short_throttle_key(victim):
    from common.api.login import LoginUsernameThrottle

    request = SimpleNamespace(data={"username": "u" * 1_000_000}, META={"REMOTE_ADDR": "10.17.0.1"})
    key = LoginUsernameThrottle().get_cache_key(request, view=None)
    assert len(key) < 100

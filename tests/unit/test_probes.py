"""/livez, /readyz and the liveness files, in-process."""

import os
import time
from unittest import mock

import pytest

from ops import checks, liveness

pytestmark = pytest.mark.django_db


def test_livez_answers_any_host_without_credentials(client):
    response = client.get("/livez", HTTP_HOST="10.244.1.17:8000")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_ok_while_every_dependency_answers(client):
    response = client.get("/readyz", HTTP_HOST="10.244.1.17:8000")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_503_naming_what_failed_and_why(client):
    def refused():
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with mock.patch.dict(checks.DEPENDENCY_CHECKS, {"redis": refused}):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "failing": {"redis": "ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused."},
    }


def test_a_probe_path_is_only_a_probe_for_get_and_head(client):
    assert client.head("/livez").status_code == 200
    assert client.post("/livez").status_code == 404


@pytest.fixture
def beat_file(tmp_path, monkeypatch):
    path = tmp_path / "beat.alive"
    monkeypatch.setenv("BEAT_LIVENESS_FILE", str(path))
    return path


def test_the_liveness_probe_fails_without_a_file_passes_when_fresh_and_fails_when_stale(beat_file, capsys):
    assert liveness.main(["beat"]) == 1
    liveness.touch("beat")
    assert liveness.main(["beat"]) == 0
    old = time.time() - liveness.STALE_AFTER_S - 1
    os.utime(beat_file, (old, old))
    assert liveness.main(["beat"]) == 1
    assert "beat is not alive" in capsys.readouterr().err


def test_the_liveness_probe_names_its_roles(capsys):
    assert liveness.main(["web"]) == 2
    assert "usage" in capsys.readouterr().err

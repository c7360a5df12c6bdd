"""The health probes against live processes: /readyz follows Redis down and back up, and the
worker's and beat's liveness files are kept fresh while they run."""

import requests

from tests.conftest import Process, wait_for
from tests.e2e.helpers import liveness_probe, start_web

# What kubelet sends: the pod's address as the Host, and no credentials.
PROBE_HOST = {"Host": "10.244.1.17:8000"}


def test_readyz_is_503_naming_redis_while_it_is_stopped_and_200_once_it_is_back(
    restartable_redis, live_env, live_logs
):
    web, base_url = start_web(dict(live_env, **restartable_redis.env), live_logs, "web-probes")
    try:
        assert requests.get(f"{base_url}/readyz", headers=PROBE_HOST, timeout=10).json() == {"status": "ok"}

        restartable_redis.stop()
        down = requests.get(f"{base_url}/readyz", headers=PROBE_HOST, timeout=10)
        assert down.status_code == 503
        assert down.json()["status"] == "unavailable"
        assert set(down.json()["failing"]) == {"redis", "broker"}  # the database still answers
        assert requests.get(f"{base_url}/livez", headers=PROBE_HOST, timeout=10).status_code == 200

        restartable_redis.start()
        wait_for(
            lambda: requests.get(f"{base_url}/readyz", headers=PROBE_HOST, timeout=10).status_code == 200,
            timeout=30,
            what="/readyz to recover",
        )
    finally:
        web.stop()


def test_a_running_worker_keeps_its_liveness_file_fresh_and_removes_it_when_it_stops(live_env, live_logs):
    env = dict(live_env, WORKER_LIVENESS_FILE=str(live_logs / "probe-worker.alive"))
    assert liveness_probe("worker", env).returncode == 1  # not started yet
    worker = Process(
        "worker-probe",
        ["celery", "-A", "config", "worker", "-l", "info", "-c", "1", "-n", "probe@%h", "-Q", "probe-only"],
        env,
        live_logs,
    )
    try:
        wait_for(lambda: liveness_probe("worker", env).returncode == 0, timeout=60, what="the worker's file")
    finally:
        worker.stop()
    probe = liveness_probe("worker", env)
    assert probe.returncode == 1
    assert "does not exist" in probe.stderr

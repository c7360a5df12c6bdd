"""A second beat process started by mistake does not double any periodic run."""

import json
import signal
from urllib.parse import urlsplit

import pytest
import redis

from tests.conftest import Process, wait_for
from tests.e2e.helpers import liveness_probe


def dispatch_origins(client) -> list[str]:
    """Who sent each jobs.dispatch_due message waiting in the broker (no worker reads this database).

    A message's origin header names the sending process, gen<pid>@<host>, so two beats sending
    at once show as two origins.
    """
    origins = []
    for key in client.scan_iter("default*"):
        if client.type(key) != b"list":
            continue
        for raw in client.lrange(key, 0, -1):
            headers = json.loads(raw)["headers"]
            if headers["task"] == "jobs.dispatch_due":
                origins.append(headers["origin"])
    return origins


@pytest.fixture
def quiet_broker(live_env):
    url = urlsplit(live_env["CELERY_BROKER_URL"])._replace(path="/7").geturl()
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()


def test_a_second_beat_stands_by_and_takes_over_only_when_the_first_dies(
    transactional_db, live_env, live_logs, quiet_broker
):
    url, client = quiet_broker
    # Long enough that a leader slowed down by a busy machine keeps its lock, short enough to take over.
    env = {**live_env, "CELERY_BROKER_URL": url, "BEAT_LOCK_TTL_S": "6"}
    first_env = {**env, "BEAT_LIVENESS_FILE": str(live_logs / "beat-first.alive")}
    second_env = {**env, "BEAT_LIVENESS_FILE": str(live_logs / "beat-second.alive")}
    first = Process("beat-first", ["bin/beat"], first_env, live_logs)
    wait_for(lambda: "holds the lock" in first.log(), timeout=60, what="the first beat to lead")
    second = Process("beat-second", ["bin/beat"], second_env, live_logs)
    try:
        wait_for(lambda: "is on standby" in second.log(), timeout=60, what="the second beat to stand by")
        # Leading or standing by, each beat is alive to its probe.
        assert liveness_probe("beat", first_env).returncode == 0
        assert liveness_probe("beat", second_env).returncode == 0
        before = len(dispatch_origins(client))
        wait_for(lambda: len(dispatch_origins(client)) >= before + 6, timeout=30, what="six more dispatches")
        # The dispatcher is due every second; all of its messages came from the leader alone.
        [leader] = set(dispatch_origins(client))

        first.stop(signal.SIGKILL)
        wait_for(lambda: "holds the lock" in second.log(), timeout=30, what="the standby to take over")

        def from_others():
            return [origin for origin in dispatch_origins(client) if origin != leader]

        wait_for(lambda: len(from_others()) >= 2, timeout=30, what="the new leader to send")
        assert len(set(from_others())) == 1
    finally:
        first.stop()
        second.stop()

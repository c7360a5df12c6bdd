"""A second beat process started by mistake does not double any periodic run."""

import json
import signal
import time
from urllib.parse import urlsplit

import pytest
import redis

from tests.conftest import Process, wait_for
from tests.e2e.helpers import liveness_probe


def dispatches_sent(client) -> int:
    """How many jobs.dispatch_due messages wait in the broker (no worker reads this database)."""
    count = 0
    for key in client.scan_iter("default*"):
        if client.type(key) != b"list":
            continue
        for raw in client.lrange(key, 0, -1):
            if json.loads(raw)["headers"]["task"] == "jobs.dispatch_due":
                count += 1
    return count


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
    env = {**live_env, "CELERY_BROKER_URL": url, "BEAT_LOCK_TTL_S": "3"}
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
        before = dispatches_sent(client)
        time.sleep(6)
        # The dispatcher is due every second: one beat sends about 6 in 6 s, two would send 12.
        assert 3 <= dispatches_sent(client) - before <= 8

        first.stop(signal.SIGKILL)
        wait_for(lambda: "holds the lock" in second.log(), timeout=30, what="the standby to take over")
        after_takeover = dispatches_sent(client)
        wait_for(
            lambda: dispatches_sent(client) >= after_takeover + 2, timeout=10, what="the new leader to send"
        )
    finally:
        first.stop()
        second.stop()

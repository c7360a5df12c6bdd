"""Fixtures for the end-to-end tests that need a service of their own."""

from types import SimpleNamespace

import pytest

from tests.conftest import Process, free_port, wait_for


@pytest.fixture
def restartable_redis(tmp_path, live_env, live_logs):
    """A Redis of the test's own (append-only file on), that the test may stop and start again."""
    port = free_port()
    args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "yes"]
    args += ["--dir", str(tmp_path)]
    servers = []

    def start():
        server = Process(f"redis-{len(servers)}", args, live_env, live_logs)
        servers.append(server)
        wait_for(lambda: "Ready to accept connections" in server.log(), timeout=20, what="Redis")
        return server

    start()
    url = f"redis://127.0.0.1:{port}"
    # env: what points a process at this Redis, as its broker and as its cache.
    env = {"CELERY_BROKER_URL": f"{url}/0", "CACHE_URL": f"{url}/1"}
    yield SimpleNamespace(port=port, env=env, start=start, stop=lambda: servers[-1].stop())
    servers[-1].stop()

"""Event streams against the live stack: silence, a crowd, and Redis going away under them."""

import asyncio
import os
from datetime import timedelta
from urllib.parse import urlsplit

import redis
import requests
from django.conf import settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from benchmarks.sse_crowd import Crowd
from jobs.api import stream_hub
from jobs.models import Job, JobStatus
from tests.conftest import run_async, wait_for
from tests.e2e.helpers import start_web

ASGI_CRASH = "Exception in ASGI application"


def token_of(session) -> str:
    return session.headers["Authorization"].split()[1]


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def quiet_jobs(user, count: int, status=JobStatus.SCHEDULED) -> list[str]:
    """Jobs nothing happens to unless they are cancelled: scheduled an hour ahead, or queued
    without a message (written straight to the ledger), so no worker takes them."""
    run_at = timezone.now() + timedelta(hours=1) if status == JobStatus.SCHEDULED else None
    jobs = Job.objects.bulk_create(
        Job(owner=user, type="math.add", params={"x": 1, "y": 2}, status=status, run_at=run_at)
        for _ in range(count)
    )
    return [str(job.pk) for job in jobs]


def stream_connections(redis_url: str) -> dict[int, int]:
    """The Redis connections each process's stream hub holds (it names them with its pid)."""
    return stream_hub.connections_by_process(redis.Redis.from_url(redis_url).client_list())


def bulk_cancel(session, base_url: str, job_ids: list[str]) -> dict:
    response = session.post(f"{base_url}/api/jobs/cancel/", json={"ids": job_ids}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_quiet_stream_gets_a_heartbeat_every_interval_for_a_minute_then_its_terminal_event(
    live_api, user, live_logs
):
    """redis-py's asyncio client cuts a read at 5 s by default; a stream must outlive that."""
    [job_id] = quiet_jobs(user, 1)
    interval = settings.JOB_EVENTS_HEARTBEAT_S
    quiet_s = 60

    async def follow():
        crowd = Crowd(host="127.0.0.1", port=port_of(live_api.base_url), token=token_of(live_api))
        await crowd.open([job_id], timeout=10)
        stream = crowd.streams[job_id]
        opened = stream.snapshot_at
        await crowd.wait(
            lambda s: s.heartbeats and s.heartbeats[-1] - opened >= quiet_s - interval,
            timeout=quiet_s + 2 * interval,
            what="a minute of heartbeats",
        )
        await asyncio.to_thread(bulk_cancel, live_api, live_api.base_url, [job_id])
        await crowd.wait(lambda s: s.terminal is not None, timeout=10, what="the terminal event")
        await crowd.close()
        return stream

    stream = run_async(follow())
    gaps = [b - a for a, b in zip([stream.snapshot_at, *stream.heartbeats], stream.heartbeats, strict=False)]
    assert len(stream.heartbeats) >= quiet_s // interval - 1
    # Timed where the client hears them, so a busy machine shifts a beat: a missed one shows as a
    # gap of two intervals, an extra one as a gap near zero.
    assert all(interval / 2 <= gap <= interval * 1.5 for gap in gaps), gaps
    assert [e["event"] for e in stream.events] == ["snapshot", "status"]
    assert stream.terminal["data"]["status"] == "cancelled"
    assert not stream.error
    assert ASGI_CRASH not in (live_logs / "web.log").read_text()


def test_a_thousand_streams_each_get_their_terminal_event_from_a_bulk_cancel_over_few_redis_connections(
    live_api, user, live_logs, web_process
):
    job_ids = quiet_jobs(user, 1000, status=JobStatus.QUEUED)

    async def follow():
        crowd = Crowd(host="127.0.0.1", port=port_of(live_api.base_url), token=token_of(live_api))
        await crowd.open(job_ids, timeout=120)
        connections = await asyncio.to_thread(stream_connections, settings.REDIS_URL)
        threads = len(os.listdir(f"/proc/{web_process.popen.pid}/task"))
        answer = await asyncio.to_thread(bulk_cancel, live_api, live_api.base_url, job_ids)
        await crowd.wait(lambda s: s.terminal is not None, timeout=60, what="terminal events")
        await crowd.close()
        return crowd, connections, threads, answer

    crowd, connections, threads, answer = run_async(follow())
    assert answer["counts"] == {"cancelled": 1000}
    assert len(answer["results"]) == 1000
    terminal = [stream.terminal for stream in crowd.streams.values()]
    assert sum(t is not None and t["data"]["status"] == "cancelled" for t in terminal) == 1000
    # Each process: its reader and at most two command connections, for 1,000 streams.
    assert connections and max(connections.values()) <= 4, connections
    # An open stream holds no thread: the request threads (DATABASE_POOL_MAX_SIZE) and the
    # pool's and asgiref's own few serve all 1,000 (asgiref's thread per request kept ~500).
    assert threads <= settings.DATABASE_POOL_MAX_SIZE + 12, threads
    assert ASGI_CRASH not in (live_logs / "web.log").read_text()


def test_streams_survive_a_redis_restart_and_each_gets_its_terminal_event(
    transactional_db, user, restartable_redis, live_env, live_logs
):
    env = dict(live_env, **restartable_redis.env, JOB_EVENTS_HEARTBEAT_S="2")
    web, base_url = start_web(env, live_logs, "web-redis-restart")
    web_port = urlsplit(base_url).port
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
        job_ids = quiet_jobs(user, 100)
        cancelled_while_down, cancelled_after = job_ids[:50], job_ids[50:]

        async def follow():
            crowd = Crowd(host="127.0.0.1", port=web_port, token=token_of(session))
            await crowd.open(job_ids, timeout=60)
            await asyncio.to_thread(restartable_redis.stop)
            await asyncio.to_thread(
                wait_for,
                lambda: "event reader lost Redis" in web.log(),
                timeout=30,
                what="the reader to notice",
            )
            # Their events cannot be stored: the ledger must end these streams.
            await asyncio.to_thread(bulk_cancel, session, base_url, cancelled_while_down)
            await asyncio.to_thread(restartable_redis.start)
            await asyncio.to_thread(
                wait_for, lambda: "event reader is back on Redis" in web.log(), timeout=30, what="a reconnect"
            )
            await asyncio.to_thread(bulk_cancel, session, base_url, cancelled_after)
            await crowd.wait(lambda s: s.terminal is not None, timeout=60, what="terminal events")
            await crowd.close()
            return crowd

        crowd = run_async(follow())
        for stream in crowd.streams.values():
            # Exactly the snapshot and one terminal event: nothing lost, nothing repeated.
            assert [e["event"] for e in stream.events] == ["snapshot", "status"], stream
            assert stream.terminal["data"]["status"] == "cancelled"
        assert ASGI_CRASH not in web.log()
    finally:
        web.stop()

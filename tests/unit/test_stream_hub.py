"""The stream hub in-process, against the test stack's real Redis."""

import asyncio
import contextlib
import os
import uuid
from unittest import mock

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from jobs import events
from jobs.api import stream_hub
from jobs.api.streams import job_event_stream
from jobs.models import Job, JobStatus
from tests.conftest import run_async


def publish(job_id, **data):
    events.event_publish(job_id=job_id, kind="progress", data=data)
    return events.event_last_id(job_id=job_id)


def hub_connections() -> int:
    """The stream connections this process holds."""
    clients = redis.Redis.from_url(settings.REDIS_URL).client_list()
    return stream_hub.connections_by_process(clients).get(os.getpid(), 0)


async def next_event(listener, timeout=5):
    return await asyncio.wait_for(listener.next(), timeout=timeout)


def test_one_reader_hands_every_listener_its_own_jobs_events(settings):
    settings.JOB_EVENTS_HEARTBEAT_S = 60  # no ledger check in this test
    job_ids = [uuid.uuid4() for _ in range(50)]

    async def scenario():
        hub = stream_hub.stream_hub()
        async with contextlib.AsyncExitStack() as stack:
            listeners = [
                await stack.enter_async_context(hub.listen(job_id=job_id, after_id="0-0"))
                for job_id in job_ids
            ]
            for job_id in job_ids:
                await asyncio.to_thread(publish, job_id, n=str(job_id))
            received = [await next_event(listener) for listener in listeners]
            connections = await asyncio.to_thread(hub_connections)
        await hub.aclose()
        return received, connections

    received, connections = run_async(scenario())
    assert [events_data(event)["n"] for event in received] == [str(job_id) for job_id in job_ids]
    # 50 listeners: the reader and at most the command connections, not one each. (A hub left
    # by an earlier test's event loop may still hold its own.)
    assert 1 <= connections <= 2 * (1 + stream_hub.COMMAND_CONNECTIONS)


def test_listeners_at_different_positions_each_get_exactly_what_follows_their_own(settings):
    settings.JOB_EVENTS_HEARTBEAT_S = 60
    job_id = uuid.uuid4()
    first, second, third = (publish(job_id, n=n) for n in (1, 2, 3))

    async def scenario():
        hub = stream_hub.stream_hub()
        # `ahead` first, so the hub's reader is past `behind`'s position when it joins.
        async with (
            hub.listen(job_id=job_id, after_id=third) as ahead,
            hub.listen(job_id=job_id, after_id=first) as behind,
        ):
            fourth = await asyncio.to_thread(publish, job_id, n=4)
            got_behind = [await next_event(behind) for _ in range(3)]
            got_ahead = await next_event(ahead)
            with pytest.raises(TimeoutError):
                await next_event(ahead, timeout=0.5)
        await hub.aclose()
        return got_behind, got_ahead, fourth

    got_behind, got_ahead, fourth = run_async(scenario())
    assert [e.id for e in got_behind] == [second, third, fourth]
    assert [events_data(e)["n"] for e in got_behind] == [2, 3, 4]
    assert got_ahead.id == fourth


@pytest.mark.django_db(transaction=True)
def test_a_silent_stream_of_a_job_that_finished_without_an_event_ends_with_the_status_from_the_ledger(
    settings, user
):
    settings.JOB_EVENTS_HEARTBEAT_S = 1
    job = Job.objects.create(
        owner=user,
        type="math.add",
        status=JobStatus.CANCELLED,
        finished_at=timezone.now(),
        error_type="JobCancelled",
        error_message="Cancelled while Redis was down.",
    )

    async def collect():
        return [chunk async for chunk in job_event_stream(job_id=job.pk, snapshot=None, after_id="0-0")]

    chunks = run_async(asyncio.wait_for(collect(), timeout=10))
    assert chunks[-1].startswith("id: 0-0\nevent: status\n")
    assert '"status": "cancelled"' in chunks[-1] and "Cancelled while Redis was down." in chunks[-1]


def test_a_stream_that_fails_ends_cleanly_so_the_client_resumes(settings):
    def unreachable(**kwargs):
        raise redis.ConnectionError("Redis is down")

    async def collect():
        with mock.patch.object(stream_hub.StreamHub, "listen", side_effect=unreachable):
            stream = job_event_stream(
                job_id=uuid.uuid4(), snapshot={"status": "queued", "id": "x"}, after_id="1-0"
            )
            return [chunk async for chunk in stream]

    chunks = run_async(collect())
    assert len(chunks) == 1 and chunks[0].startswith("id: 1-0\nevent: snapshot\n")


def test_stream_ids_order_by_time_then_sequence():
    assert stream_hub.id_order("1700000000000-10") > stream_hub.id_order("1700000000000-9")
    assert stream_hub.id_order("1700000000001-0") > stream_hub.id_order("1700000000000-99")


def events_data(event):
    return events.json.loads(event.data)


def test_a_client_that_goes_away_leaves_the_hub(settings):
    settings.JOB_EVENTS_HEARTBEAT_S = 60
    job_id = uuid.uuid4()

    async def scenario():
        started = asyncio.Event()

        async def client():
            stream = job_event_stream(job_id=job_id, snapshot={"status": "queued"}, after_id="0-0")
            async with contextlib.aclosing(stream):
                async for _ in stream:
                    started.set()

        task = asyncio.create_task(client())
        await started.wait()
        hub = stream_hub.stream_hub()
        await asyncio.to_thread(publish, job_id, n=1)  # the listener is registered once it has read
        async with asyncio.timeout(10):
            while not hub._listeners:
                await asyncio.sleep(0.01)
        # The ASGI server cancels the response when its client disconnects.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        left = dict(hub._listeners), dict(hub._cursors)
        await hub.aclose()
        return left

    assert run_async(scenario()) == ({}, {})

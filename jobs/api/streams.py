"""Server-Sent Events for one job, streamed by the ASGI server from Redis.

The view (sync, in DRF) authenticates and takes a snapshot; the stream itself is an async
generator, so an open stream holds neither a thread nor a database connection, only a
Redis connection blocked in XREAD.
"""

import json
import time

from django.conf import settings
from rest_framework.renderers import BaseRenderer

from jobs import events

TERMINAL = {"succeeded", "failed", "cancelled"}


class EventStreamRenderer(BaseRenderer):
    media_type = "text/event-stream"
    format = "event-stream"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Only errors reach here (401/404 before streaming starts): send them as one event.
        return f"event: error\ndata: {json.dumps(data)}\n\n".encode()


def sse(*, event_id: str, kind: str, data: str) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n"


async def job_event_stream(*, job_id, snapshot: dict | None, after_id: str):
    """Yield the snapshot (if any), then every event after `after_id`, until a terminal status.

    Heartbeat comments keep proxies from closing an idle stream; a stream also ends after
    JOB_EVENTS_MAX_STREAM_S, and the client resumes with Last-Event-ID.
    """
    if snapshot is not None:
        yield sse(event_id=after_id, kind="snapshot", data=json.dumps(snapshot))
        if snapshot["status"] in TERMINAL:
            return
    client = events.async_redis()
    key = events.stream_key(job_id)
    deadline = time.monotonic() + settings.JOB_EVENTS_MAX_STREAM_S
    heartbeat_ms = int(settings.JOB_EVENTS_HEARTBEAT_S * 1000)
    try:
        while time.monotonic() < deadline:
            batch = await client.xread({key: after_id}, block=heartbeat_ms, count=100)
            if not batch:
                yield ": heartbeat\n\n"
                continue
            for raw_id, fields in batch[0][1]:
                after_id = raw_id.decode()
                data = fields[b"data"].decode()
                yield sse(event_id=after_id, kind=fields[b"kind"].decode(), data=data)
                if json.loads(data).get("status") in TERMINAL:
                    return
    finally:
        await client.aclose()

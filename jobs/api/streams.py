"""Server-Sent Events for one job, streamed by the ASGI server from Redis.

The view (sync, in DRF) authenticates and takes a snapshot; the stream itself is an async
generator fed by the process's stream hub (jobs.api.stream_hub), so an open stream holds
no thread, no database connection and no Redis connection of its own.
"""

import asyncio
import json
import logging
import time

from django.conf import settings
from rest_framework.renderers import BaseRenderer

from jobs.api.stream_hub import stream_hub

logger = logging.getLogger(__name__)

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

    A heartbeat comment every JOB_EVENTS_HEARTBEAT_S of silence keeps proxies from closing the
    stream. The stream also ends after JOB_EVENTS_MAX_STREAM_S, or at once if anything goes wrong
    (Redis unreachable while catching up, say): the client sees it close and resumes with
    Last-Event-ID, rather than hanging on a stream that will never speak again.
    """
    if snapshot is not None:
        yield sse(event_id=after_id, kind="snapshot", data=json.dumps(snapshot))
        if snapshot["status"] in TERMINAL:
            return
    deadline = time.monotonic() + settings.JOB_EVENTS_MAX_STREAM_S
    try:
        async with stream_hub().listen(job_id=job_id, after_id=after_id) as listener:
            while time.monotonic() < deadline:
                try:
                    async with asyncio.timeout(settings.JOB_EVENTS_HEARTBEAT_S):
                        event = await listener.next()
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                yield sse(event_id=event.id, kind=event.kind, data=event.data)
                if event.status in TERMINAL:
                    return
    except Exception:
        logger.warning("the event stream of job %s ended early; the client resumes it", job_id, exc_info=True)

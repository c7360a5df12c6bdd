"""Live job events: each status or progress change is appended to a Redis stream per job.

A stream, rather than plain pub/sub, lets a listener that reconnects with `Last-Event-ID`
read what it missed, and lets a new listener take a snapshot and then read every change
after it without a gap. Streams are capped and expire, so they cost little memory.
"""

import json
import logging
import queue
import threading

import redis
from django.core.serializers.json import DjangoJSONEncoder

from common.redis_clients import redis_client

logger = logging.getLogger(__name__)

STREAM_MAX_EVENTS = 1000
STREAM_TTL_S = 24 * 3600
STREAM_PREFIX = "jobs:events:"


def stream_key(job_id) -> str:
    return f"{STREAM_PREFIX}{job_id}"


def event_data_json(data: dict) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder)


def terminal_event_data(
    *, status: str, error_type: str, error_message: str, finished_at, result=None
) -> dict:
    """The `status` event of a job that has finished: what the worker, a cancel and the stream
    hub's ledger check all send."""
    data = {
        "status": status,
        "error": {"type": error_type, "message": error_message} if error_type else None,
        "finished_at": finished_at,
    }
    if status == "succeeded":
        data["result"] = result
    return data


def event_publish(*, job_id, kind: str, data: dict) -> None:
    """Append an event for listeners. Best effort: the job row, not the stream, is the truth.

    In a worker process (after events_publish_in_background()) the event is queued for this
    process's sender thread and the job goes on at once; elsewhere it is sent before returning.
    """
    event = (stream_key(job_id), {"kind": kind, "data": event_data_json(data)})
    if _background is not None:
        _background.put(event)
    else:
        _send([event])


# The same event appended to many streams in one command: packing a pipeline of XADD and EXPIRE
# per stream cost more, in the web process, than Redis spends on the whole script.
_APPEND_TO_EACH = """
for _, key in ipairs(KEYS) do
    redis.call('XADD', key, 'MAXLEN', '~', ARGV[1], '*', 'kind', ARGV[3], 'data', ARGV[4])
    redis.call('EXPIRE', key, ARGV[2])
end
"""
_CHUNK = 1000  # streams per script call, so no single call holds Redis up for long


def event_publish_many(*, job_ids: list, kind: str, data: dict) -> None:
    """The same event for each of the jobs, in one round trip per 1,000. Best effort, as above."""
    keys = [stream_key(job_id) for job_id in job_ids]
    args = [STREAM_MAX_EVENTS, STREAM_TTL_S, kind, event_data_json(data)]
    try:
        append = redis_client().register_script(_APPEND_TO_EACH)
        for start in range(0, len(keys), _CHUNK):
            append(keys=keys[start : start + _CHUNK], args=args)
    except redis.RedisError:
        logger.warning("could not publish %d job event(s)", len(keys), exc_info=True)


def _send(batch: list[tuple[str, dict]]) -> None:
    try:
        pipe = redis_client().pipeline(transaction=False)
        for key, fields in batch:
            pipe.xadd(key, fields, maxlen=STREAM_MAX_EVENTS, approximate=True)
            pipe.expire(key, STREAM_TTL_S)
        pipe.execute()
    except redis.RedisError:
        logger.warning("could not publish %d job event(s)", len(batch), exc_info=True)


class _BackgroundSender:
    """One thread per worker process sends job events, in one pipeline per batch.

    A job that waited for Redis at its claim and at its finish spent a quarter of its time
    there. Events go out in the order they were queued, so a job's `running` always precedes
    its terminal status; whatever queued up while a batch was in flight goes out in the next.
    """

    def __init__(self):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name="job-events", daemon=True).start()

    def put(self, event) -> None:
        self._queue.put(event)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 500:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            _send(batch)


_background: _BackgroundSender | None = None


def events_publish_in_background() -> None:
    """Send this process's events from a thread of its own (called in each worker process: a
    thread does not survive the fork that made the process)."""
    global _background
    _background = _BackgroundSender()


def event_last_id(*, job_id) -> str:
    """The id of the newest event, or "0-0": reading after it yields only later events."""
    newest = redis_client().xrevrange(stream_key(job_id), count=1)
    return newest[0][0].decode() if newest else "0-0"


def event_exists_after(*, job_id, event_id: str) -> bool:
    """Whether the job's stream holds an event newer than `event_id`."""
    return bool(redis_client().xrange(stream_key(job_id), min=f"({event_id}", count=1))

"""One Redis reader per web process for every open event stream: fan-out, not a connection each.

Each open SSE stream registers a listener with its process's hub. The hub's reader task holds
one Redis connection blocked in a single XREAD over the streams of every job being watched, plus
a wake-up stream of its own, so that a job watched for the first time joins the read at once.
It hands each event to the listeners of that job. Opening or closing a stream costs no Redis
connection: a process uses one for the reader and at most COMMAND_CONNECTIONS for short
commands (wake-ups, a resuming listener's catch-up), whatever the number of streams.

Redis going away does not end a stream. The reader reconnects with backoff and reads on from
the last id it had for each job, so no stored event is lost or repeated. An event published
while Redis was down was never stored, so the ledger covers it: after a reconnect, and for
streams that have been silent for JOB_EVENTS_HEARTBEAT_S, the hub reads which watched jobs
have finished and ends those streams with the terminal status from the row.
"""

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections import deque
from contextvars import Context
from dataclasses import dataclass

import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from redis.exceptions import RedisError

from common import redis_clients
from jobs import events, selectors

logger = logging.getLogger(__name__)

# The reader's XREAD returns at least this often, so a dead connection is noticed; its socket
# timeout is longer, so an idle XREAD is never mistaken for a dead one (redis-py's asyncio client
# would otherwise cut it at its 5 s default).
READ_BLOCK_S = 10
READ_SOCKET_TIMEOUT_S = READ_BLOCK_S + 5
COMMAND_SOCKET_TIMEOUT_S = 5
CONNECT_TIMEOUT_S = 3
COMMAND_CONNECTIONS = 2
EVENTS_PER_READ = 100  # per job and read; a busier job's rest comes in the next read
RECONNECT_BACKOFF_S = (0.05, 2.0)
CLOSE_WAIT_S = 5
# Redis client names (CLIENT LIST), followed by "-<pid>": what each process holds can be counted.
READER_NAME = "jobs-stream-reader"
COMMANDS_NAME = "jobs-stream-commands"


def connection_name(role: str) -> str:
    return f"{role}-{os.getpid()}"


def connections_by_process(clients: list[dict]) -> dict[int, int]:
    """From Redis' CLIENT LIST: how many stream connections each process holds."""
    counts: dict[int, int] = {}
    for client in clients:
        role, _, pid = client.get("name", "").rpartition("-")
        if role in {READER_NAME, COMMANDS_NAME} and pid.isdigit():
            counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def id_order(event_id: str) -> tuple[int, int]:
    """A Redis stream id ("1700000000000-3") as a sortable pair."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    data: str

    @property
    def status(self) -> str | None:
        return json.loads(self.data).get("status")


class Listener:
    """One open stream's place in the hub: the events for it, in order, each at most once."""

    def __init__(self, *, after_id: str):
        self.last_id = after_id
        self.last_seen = time.monotonic()
        self._backlog: deque[Event] = deque()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    def put(self, event: Event) -> None:
        self._queue.put_nowait(event)

    async def next(self) -> Event:
        """The next event after the last one returned; duplicates (a catch-up that overlaps
        the hub's read) are skipped. Ledger events carry the last id and always pass."""
        while True:
            event = self._backlog.popleft() if self._backlog else await self._queue.get()
            self.last_seen = time.monotonic()
            if event.kind == "ledger":
                return Event(id=self.last_id, kind="status", data=event.data)
            if id_order(event.id) > id_order(self.last_id):
                self.last_id = event.id
                return event


class StreamHub:
    def __init__(self):
        url = redis_clients.redis_url()
        self._reader = redis.asyncio.Redis.from_url(
            url,
            max_connections=1,
            socket_timeout=READ_SOCKET_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            client_name=connection_name(READER_NAME),
        )
        self._commands = redis.asyncio.Redis(
            connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
                url,
                max_connections=COMMAND_CONNECTIONS,
                timeout=COMMAND_SOCKET_TIMEOUT_S,
                socket_timeout=COMMAND_SOCKET_TIMEOUT_S,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                client_name=connection_name(COMMANDS_NAME),
            )
        )
        self._wake_key = f"jobs:events:hub:{uuid.uuid4()}"
        self._wake_id = "0-0"
        self._listeners: dict[str, set[Listener]] = {}
        self._cursors: dict[str, str] = {}  # per job stream: the last id the reader has read
        self._in_read: set[str] = set()
        self._wake_pending = False
        self._has_listeners = asyncio.Event()
        self._reconnected = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._wakes: set[asyncio.Task] = set()

    async def aclose(self) -> None:
        """Stop the reader and the ledger check and close the connections (when the event loop
        that runs the hub is ending: a test's, say; a web process's hub lives as long as it)."""
        tasks = [*self._tasks, *self._wakes]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a read that ignores its cancellation must not hold up the loop's end.
            await asyncio.wait(tasks, timeout=CLOSE_WAIT_S)
        await self._reader.aclose()
        await self._commands.aclose()

    @contextlib.asynccontextmanager
    async def listen(self, *, job_id, after_id: str):
        """A listener for the job's events after `after_id`, for as long as the block runs."""
        if not self._tasks:
            self._tasks = [
                # In a context of their own, not the first listener's request's, which they
                # outlive (asgiref refuses sync_to_async from a request context that has ended).
                asyncio.create_task(self._read_forever(), name="stream-hub-reader", context=Context()),
                asyncio.create_task(
                    self._check_ledger_forever(), name="stream-hub-ledger", context=Context()
                ),
            ]
        key = events.stream_key(job_id)
        listener = Listener(after_id=after_id)
        cursor = self._cursors.get(key)
        self._listeners.setdefault(key, set()).add(listener)
        self._has_listeners.set()
        try:
            if cursor is None:
                self._cursors[key] = after_id
                self._wake_reader(key)
            elif id_order(after_id) < id_order(cursor):
                # The reader is past this listener's position: catch up on what lies between.
                entries = await self._commands.xrange(key, min=f"({after_id}", max=cursor)
                listener._backlog.extend(_event(raw_id, fields) for raw_id, fields in entries)
            yield listener
        finally:
            watching = self._listeners.get(key)
            watching.discard(listener)
            if not watching:
                del self._listeners[key]
                self._cursors.pop(key, None)

    def _wake_reader(self, key: str) -> None:
        """Make the reader start a new XREAD that includes `key`; one wake-up covers every key
        added before that read starts, so a thousand streams opening at once cost a few."""
        if key in self._in_read or self._wake_pending:
            return
        self._wake_pending = True
        task = asyncio.create_task(self._send_wake())
        self._wakes.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._wakes.discard)

    async def _send_wake(self) -> None:
        try:
            await self._commands.xadd(self._wake_key, {"wake": "1"}, maxlen=10, approximate=True)
            await self._commands.expire(self._wake_key, 3600)
        except RedisError:
            # The reader is failing too; it includes every key when it reconnects.
            logger.warning("could not wake the stream reader", exc_info=True)

    async def _read_forever(self) -> None:
        backoff = RECONNECT_BACKOFF_S[0]
        while True:
            if not self._listeners:
                self._has_listeners.clear()
                await self._has_listeners.wait()
                continue
            try:
                self._dispatch(await self._read())
            except (RedisError, OSError) as error:
                _raise_if_cancelled(error)
                if backoff == RECONNECT_BACKOFF_S[0]:
                    logger.warning("the job event reader lost Redis (%s); reconnecting", error)
            except Exception as error:
                _raise_if_cancelled(error)
                # Never let the reader die: every stream of this process depends on it.
                logger.exception("the job event reader failed; starting over")
            else:
                if backoff != RECONNECT_BACKOFF_S[0]:
                    logger.warning("the job event reader is back on Redis")
                    backoff = RECONNECT_BACKOFF_S[0]
                    self._reconnected.set()
                continue
            self._in_read = set()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RECONNECT_BACKOFF_S[1])

    async def _read(self):
        self._in_read = set(self._cursors)
        self._wake_pending = False
        streams = {self._wake_key: self._wake_id, **self._cursors}
        return await self._reader.xread(streams, block=READ_BLOCK_S * 1000, count=EVENTS_PER_READ)

    def _dispatch(self, reply) -> None:
        for raw_key, entries in reply or ():
            key = raw_key.decode()
            if not entries:
                continue
            last_id = entries[-1][0].decode()
            if key == self._wake_key:
                self._wake_id = last_id
                continue
            if key not in self._cursors:
                continue  # its last listener left during the read
            self._cursors[key] = last_id
            batch = [_event(raw_id, fields) for raw_id, fields in entries]
            for listener in self._listeners[key]:
                for event in batch:
                    listener.put(event)

    async def _check_ledger_forever(self) -> None:
        """End the streams of finished jobs whose terminal event never reached Redis."""
        interval = settings.JOB_EVENTS_HEARTBEAT_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconnected.wait(), timeout=interval)
            everyone = self._reconnected.is_set()
            self._reconnected.clear()
            silent_since = time.monotonic() - interval
            watched = {
                key.removeprefix(events.STREAM_PREFIX): [
                    listener for listener in listeners if everyone or listener.last_seen < silent_since
                ]
                for key, listeners in self._listeners.items()
            }
            watched = {job_id: listeners for job_id, listeners in watched.items() if listeners}
            if not watched:
                continue
            try:
                finished = await sync_to_async(_finished_jobs)(list(watched))
            except Exception as error:
                _raise_if_cancelled(error)
                logger.warning("could not read the ledger for finished jobs", exc_info=True)
                continue
            for job_id, data in finished.items():
                for listener in watched[job_id]:
                    listener.put(Event(id="", kind="ledger", data=data))


def _raise_if_cancelled(error: BaseException) -> None:
    """Cancelled in the middle of a read, redis-py may raise a ConnectionError in place of the
    CancelledError; swallowing it would keep the task alive and hang the loop's shutdown."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from error


def _event(raw_id: bytes, fields: dict) -> Event:
    return Event(id=raw_id.decode(), kind=fields[b"kind"].decode(), data=fields[b"data"].decode())


def _finished_jobs(job_ids: list[str]) -> dict[str, str]:
    try:
        return {
            str(job_id): events.event_data_json(data)
            for job_id, data in selectors.job_terminal_events(job_ids=job_ids).items()
        }
    finally:
        # Outside any request: hand the connection back to the pool now.
        connection.close()


_hub: StreamHub | None = None
_hub_loop: asyncio.AbstractEventLoop | None = None


def stream_hub() -> StreamHub:
    """This process's hub (one per event loop: the ASGI server runs one)."""
    global _hub, _hub_loop
    loop = asyncio.get_running_loop()
    if _hub is None or _hub_loop is not loop:
        _hub, _hub_loop = StreamHub(), loop
    return _hub

"""Thousands of Server-Sent Event streams from one process: asyncio sockets, no HTTP library.

Used by `make bench` (the streams figures) and by the end-to-end tests (1,000 streams, a Redis
restart under 100). Each stream records when its snapshot and its terminal event arrived, how
many heartbeats it got, and every event in order.
"""

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

TERMINAL = {"succeeded", "failed", "cancelled"}
CONNECTING_AT_ONCE = 100  # stay inside the server's listen backlog


@dataclass(eq=False)  # hashed by identity: the crowd keeps sets of streams
class Stream:
    job_id: str
    events: list[dict] = field(default_factory=list)
    heartbeats: list[float] = field(default_factory=list)  # arrival times (time.time())
    snapshot_at: float | None = None
    terminal_at: float | None = None
    closed: bool = False
    error: str = ""

    @property
    def terminal(self) -> dict | None:
        last = self.events[-1] if self.events else None
        return last if last and last["data"].get("status") in TERMINAL else None


class Crowd:
    """Streams on many jobs from one event loop, against a server at host:port."""

    def __init__(self, *, host: str, port: int, token: str):
        self.host, self.port, self.token = host, port, token
        self.streams: dict[str, Stream] = {}
        self._tasks: list[asyncio.Task] = []
        self._changed = asyncio.Event()
        self._changed_streams: set[Stream] = set()

    async def open(self, job_ids: list[str], *, timeout: float) -> None:
        """Open a stream per job; return once each has its snapshot (fail after `timeout` s)."""
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
        for job_id in job_ids:
            stream = self.streams[job_id] = Stream(job_id)
            self._tasks.append(asyncio.create_task(self._follow(stream, gate)))
        await self.wait(lambda s: s.snapshot_at is not None, timeout=timeout, what="snapshots")

    async def wait(self, done, *, timeout: float, what: str) -> None:
        """Wait until done(stream) holds for every stream; raise TimeoutError naming the laggards.

        Only the streams that changed since the last look are checked again, so waiting costs
        the event loop (and the arrival times it stamps) little, however many streams there are.
        """
        deadline = time.monotonic() + timeout
        pending = {stream for stream in self.streams.values() if not done(stream)}
        while pending:
            changed, self._changed_streams = self._changed_streams & pending, set()
            for stream in changed:
                if done(stream):
                    pending.discard(stream)
                elif stream.closed:
                    raise AssertionError(f"a stream closed before {what}: {stream}")
            if not pending:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(pending)} of {len(self.streams)} streams still waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=remaining)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _follow(self, stream: Stream, gate: asyncio.Semaphore) -> None:
        writer = None
        try:
            async with gate:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(
                    f"GET /api/jobs/{stream.job_id}/events/ HTTP/1.1\r\nHost: {self.host}\r\n"
                    f"Authorization: Token {self.token}\r\nAccept: text/event-stream\r\n\r\n".encode()
                )
                status = await reader.readline()
                if b" 200 " not in status:
                    raise ConnectionError(f"answered {status!r}")
                while (await reader.readline()).strip():
                    pass  # the headers; uvicorn streams the body in chunks
            buffer = b""
            while True:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    break
                buffer += (await reader.readexactly(size + 2))[:-2]
                *blocks, buffer = buffer.split(b"\n\n")
                for block in blocks:
                    self._take(stream, block.decode())
        except asyncio.CancelledError:
            raise
        except Exception as error:  # reported through stream.error and stream.closed
            stream.error = repr(error)
        finally:
            stream.closed = True
            self._mark(stream)
            if writer is not None:
                writer.close()

    def _take(self, stream: Stream, block: str) -> None:
        now = time.time()
        if block.startswith(":"):
            stream.heartbeats.append(now)
            self._mark(stream)
            return
        fields = dict(line.partition(": ")[::2] for line in block.splitlines())
        event = {"id": fields.get("id"), "event": fields.get("event"), "data": json.loads(fields["data"])}
        stream.events.append(event)
        if event["event"] == "snapshot":
            stream.snapshot_at = now
        if event["data"].get("status") in TERMINAL:
            stream.terminal_at = now
        self._mark(stream)

    def _mark(self, stream: Stream) -> None:
        self._changed_streams.add(stream)
        self._changed.set()

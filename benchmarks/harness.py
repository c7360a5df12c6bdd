"""The bench's tools: processes, waiting, free ports, wrk load and CPU time per process."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "benchmarks" / "tutorial"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
WRK_THREADS = 2
WEB_PROCESSES = 2  # the service's WEB_CONCURRENCY here
# Redis databases: the service's broker and cache, and the tutorial's broker.
SERVICE_BROKER_DB, SERVICE_CACHE_DB, TUTORIAL_BROKER_DB = 2, 3, 4
# The tutorial's client polls its GET endpoint this often for the submit-to-result latency.
POLL_INTERVAL_S = 0.005


def log(message: str) -> None:
    print(f"--> {message}", file=sys.stderr, flush=True)


class Proc:
    """A server process in its own process group, stopped by its PID, logging to a file."""

    def __init__(self, name: str, args: list[str], *, env: dict, cwd: Path, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("ab") as out:
            self.popen = subprocess.Popen(
                args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM to the main process (a Celery worker's warm shutdown finishes its jobs), then
        SIGKILL to what is left of the group."""
        if self.alive():
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return False
    return True


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Load ---------------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "{method}"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{{"requests": %d, "duration_us": %d, "errors_connect": %d, "errors_read": %d, '
    .. '"errors_write": %d, "errors_status": %d, "errors_timeout": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk(url: str, *, connections: int, duration_s: float, method="GET", body="", headers=None) -> dict:
    """One bounded wrk run; requests per second, p50/p99 in ms, and every kind of error."""
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(method=method, body=body, headers=header_lines))
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(WRK_THREADS, connections)}",
                f"-c{connections}",
                f"-d{max(1, round(duration_s))}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=duration_s + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    raw = json.loads(out.strip().splitlines()[-1])
    errors = sum(value for key, value in raw.items() if key.startswith("errors_"))
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": errors,
        "non_2xx": raw["errors_status"],
    }


class SessionCounter:
    """PostgreSQL sessions opened for one database, read from the server log (log_connections)."""

    def __init__(self, log_path: Path, database: str):
        self.log_path = log_path
        self.pattern = re.compile(rf"connection authorized: user=\S+ database={re.escape(database)}\b")

    def count(self) -> int:
        return len(self.pattern.findall(self.log_path.read_text(errors="replace")))


def cpu_seconds_by_role() -> dict[str, float]:
    """CPU time (user + system) used so far by the web servers, workers, PostgreSQL and Redis
    running now, from /proc. Only one setup runs at a time, so each role is that setup's."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        role = cpu_role(command)
        if role:
            totals[role] = totals.get(role, 0.0) + (int(stat[11]) + int(stat[12])) / tick
    return totals


def cpu_role(command: str) -> str | None:
    if command.startswith("postgres") or "/postgres " in command:
        return "postgres"
    if "redis-server" in command:
        return "redis"
    if " worker" in command and "celery" in command:
        return "worker"
    if "gunicorn" in command or "uvicorn" in command or "multiprocessing.spawn" in command:
        return "web"
    return None


def cpu_ms_per(before: dict, after: dict, count: int) -> dict[str, float]:
    """Milliseconds of CPU per request or job, by role (the load generator is not counted)."""
    return {role: 1000 * (after[role] - before.get(role, 0.0)) / count for role in after if count}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]

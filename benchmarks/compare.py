"""`make bench`: this service beside the tutorial stack it replaces, in one run.

Both setups run one after the other on the same PostgreSQL (fsync on, as in production) and
the same Redis, which `scripts/stack.sh bench` starts and hands over in PG_PORT, REDIS_PORT and
PG_LOG. Each gets a database of its own and Redis databases of its own.

- The tutorial stack (benchmarks/tutorial/): DRF views that call `noop.delay()` and read
  `AsyncResult`, gunicorn with 2 sync workers, a prefork worker `-c 2`, results in "django-db".
- This service in production settings: DEBUG=false, `bin/web` (2 uvicorn workers) and
  `bin/worker -c 2`.

HTTP load comes from wrk on loopback, every run bounded by --duration. PostgreSQL sessions are
counted from the server log (log_connections), which sees every connection, pooled or not.
Prints a table with the ratio of each figure and writes every figure as JSON (--json).
`--smoke` runs the same path with a handful of jobs and a second of load (for `make test`).
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psycopg
import redis
import requests
from sse_crowd import Crowd

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


# --- The two setups -----------------------------------------------------------------------------


class Setup:
    """What both setups share: a database, a broker, a web server, a worker, and the measures."""

    name: str
    database: str
    broker_db: int
    job_path: str  # the URL path of one job/task, with {id}
    submit_path: str
    submit_body: str

    def __init__(self, *, pg_port: int, redis_port: int, pg_log: Path, log_dir: Path):
        self.pg_port, self.redis_port, self.log_dir = pg_port, redis_port, log_dir
        self.sessions = SessionCounter(pg_log, self.database)
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.web = self.worker = self.flower = None
        self.headers: dict[str, str] = {}
        self.broker = redis.Redis(port=redis_port, db=self.broker_db)

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.pg_port}/{self.database}"

    def sql(self, query: str, params=()):
        with psycopg.connect(self.database_url.replace("postgres://", "postgresql://"), autocommit=True) as c:
            cursor = c.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def recreate_database(self) -> None:
        admin = f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.broker.flushdb()

    def start_worker(self, *, events: bool = False) -> None:
        self.worker = self.spawn_worker(events=events)

    def stop(self) -> None:
        for proc in (self.flower, self.worker, self.web):
            if proc is not None:
                proc.stop()

    def stop_worker_and_purge(self) -> None:
        """An empty queue and no stored results: the next measure starts from a known state.

        Requests still in flight when wrk stopped go on publishing for a while; the queue is
        emptied only once nothing has been added to it for a second."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        settled, last = 0, -1
        while settled < 5:
            queued = self.queued_messages()
            settled, last = (settled + 1 if queued == last else 0), queued
            time.sleep(0.2)
        self.broker.flushdb()
        self.clear_results()

    def queued_messages(self) -> int:
        lists = [key for key in self.broker.scan_iter() if self.broker.type(key) == b"list"]
        return sum(self.broker.llen(key) for key in lists)

    def load(self, path: str, *, connections: int, duration_s: float, method="GET", body="") -> dict:
        before, cpu_before = self.sessions.count(), cpu_seconds_by_role()
        result = wrk(
            self.base_url + path,
            connections=connections,
            duration_s=duration_s,
            method=method,
            body=body,
            headers=self.headers,
        )
        # Connections still in a pool are logged when opened, so this count is complete now.
        result["sessions"] = self.sessions.count() - before
        result["cpu_ms"] = cpu_ms_per(cpu_before, cpu_seconds_by_role(), result["requests"])
        return result

    def drain(self, *, jobs: int, events: bool) -> dict:
        """Queue `jobs` with no worker, start one, and time the first to the last stored result."""
        self.stop_worker_and_purge()
        flower = self.spawn_flower() if events else None
        try:
            self.enqueue(jobs)
            self.start_worker(events=events)
            # CPU is counted from the first stored result on, so the worker's start-up is not.
            started = wait_until(self.stored_results, timeout=120, what="the first result", interval=0.02)
            cpu_before = cpu_seconds_by_role()
            wait_until(
                lambda: self.stored_results() >= jobs,
                timeout=max(120, jobs / 20),
                what=f"{jobs} results",
                interval=0.2,
            )
            cpu = cpu_ms_per(cpu_before, cpu_seconds_by_role(), jobs - started)
            ((first, last),) = self.sql(
                "SELECT min(date_done), max(date_done) FROM django_celery_results_taskresult "
                "WHERE status = 'SUCCESS'"
            )
        finally:
            if flower is not None:
                flower.stop()
        seconds = (last - first).total_seconds()
        per_s = (jobs - 1) / seconds if seconds else 0.0
        return {"jobs": jobs, "seconds": seconds, "per_s": per_s, "cpu_ms": cpu}

    def stored_results(self) -> int:
        return self.sql("SELECT count(*) FROM django_celery_results_taskresult WHERE status = 'SUCCESS'")[0][
            0
        ]

    def clear_results(self) -> None:
        self.sql("TRUNCATE django_celery_results_taskresult")

    def proc(self, name: str, args: list[str], *, env: dict, cwd: Path) -> Proc:
        return Proc(f"{self.name}-{name}", args, env=env, cwd=cwd, log_dir=self.log_dir)


class Tutorial(Setup):
    name = "tutorial"
    database = "bench_tutorial"
    broker_db = TUTORIAL_BROKER_DB
    job_path = "/tasks/{id}/"
    submit_path = "/tasks/"
    submit_body = ""

    @property
    def env(self) -> dict:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/{self.broker_db}",
            "PYTHONPATH": str(TUTORIAL),
            "DJANGO_SETTINGS_MODULE": "tutorial.settings",
        }

    def start(self) -> None:
        self.recreate_database()
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=TUTORIAL, env=self.env, check=True)
        self.web = self.proc(
            "web",
            [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{self.web_port}", "tutorial.wsgi"],
            env=self.env,
            cwd=TUTORIAL,
        )
        wait_until(lambda: answers(self.base_url + "/tasks/x/"), timeout=60, what="the tutorial's web")
        self.start_worker()

    def spawn_worker(self, *, events: bool) -> Proc:
        args = [str(BIN / "celery"), "-A", "tutorial", "worker", "-P", "prefork", "-c", "2", "-l", "warning"]
        return self.proc("worker", [*args, "-E"] if events else args, env=self.env, cwd=TUTORIAL)

    def spawn_flower(self) -> Proc:
        port = free_port()
        flower = self.proc(
            "flower",
            [str(BIN / "celery"), "-A", "tutorial", "flower", "--address=127.0.0.1", f"--port={port}"],
            env=self.env,
            cwd=TUTORIAL,
        )
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/"), timeout=60, what="the tutorial's Flower")
        return flower

    def submit(self, session: requests.Session) -> str:
        response = session.post(self.base_url + "/tasks/", timeout=10)
        response.raise_for_status()
        return response.json()["id"]

    def finished_job(self) -> str:
        task_id = self.submit(requests.Session())
        wait_until(lambda: self.status_of(task_id) == "SUCCESS", timeout=60, what="the first task")
        return task_id

    def status_of(self, task_id: str) -> str:
        return requests.get(self.base_url + f"/tasks/{task_id}/", timeout=10).json()["status"]

    def enqueue(self, jobs: int) -> None:
        code = f"from tutorial.tasks import noop\nfor _ in range({jobs}): noop.delay()"
        subprocess.run([PYTHON, "manage.py", "shell", "-c", code], cwd=TUTORIAL, env=self.env, check=True)

    def latency(self, samples: int) -> list[float]:
        """Submit, then poll GET until the task's result is SUCCESS: what its client has to do."""
        session, seconds = requests.Session(), []
        for _ in range(samples):
            started = time.perf_counter()
            task_id = self.submit(session)
            while session.get(self.base_url + f"/tasks/{task_id}/", timeout=10).json()["status"] != "SUCCESS":
                time.sleep(POLL_INTERVAL_S)
            seconds.append(time.perf_counter() - started)
        return seconds

    def ceiling(self, *, jobs: int) -> dict:
        """Celery's own drain with ignore_result: nothing stored, timed on the queue's length."""
        self.stop_worker_and_purge()
        code = f"from tutorial.tasks import noop_ignore_result as t\nfor _ in range({jobs}): t.delay()"
        subprocess.run([PYTHON, "manage.py", "shell", "-c", code], cwd=TUTORIAL, env=self.env, check=True)
        self.start_worker()
        first = wait_until(
            lambda: self.broker.llen("celery") < jobs and time.perf_counter(),
            timeout=60,
            what="the first task",
            interval=0.002,
        )
        last = wait_until(
            lambda: self.broker.llen("celery") == 0 and time.perf_counter(),
            timeout=max(60, jobs / 50),
            what="an empty queue",
            interval=0.002,
        )
        seconds = last - first
        return {"jobs": jobs, "seconds": seconds, "per_s": jobs / seconds if seconds else 0.0}


class Service(Setup):
    name = "service"
    database = "bench_service"
    broker_db = SERVICE_BROKER_DB
    job_path = "/api/jobs/{id}/"
    submit_path = "/api/jobs/"
    submit_body = '{"type": "math.add", "params": {"x": 2, "y": 3}}'
    password = "bench-password-" + uuid.uuid4().hex[:8]

    @property
    def env(self) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/{self.broker_db}",
            "CACHE_URL": f"redis://127.0.0.1:{self.redis_port}/{SERVICE_CACHE_DB}",
            "WEB_PORT": str(self.web_port),
            "WEB_CONCURRENCY": str(WEB_PROCESSES),
            "LOG_LEVEL": "WARNING",
            "CELERY_WORKER_SEND_TASK_EVENTS": "false",
            "ADMIN_USERNAME": "bench",
            "ADMIN_PASSWORD": self.password,
            # One user sends all the load: the throttle and the active-job cap still run on every
            # request, with limits this load cannot reach.
            "API_THROTTLE_USER": "100000000/min",
            "JOB_MAX_ACTIVE_PER_USER": "100000000",
        }

    def start(self) -> None:
        self.recreate_database()
        subprocess.run(["bin/release"], cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.web = self.proc("web", ["bin/web"], env=self.env, cwd=ROOT)
        wait_until(lambda: answers(self.base_url + "/api/"), timeout=60, what="the service's web")
        response = requests.post(
            self.base_url + "/api/auth/token/",
            data={"username": "bench", "password": self.password},
            timeout=10,
        )
        response.raise_for_status()
        self.headers = {"Authorization": f"Token {response.json()['token']}"}
        self.start_worker()

    def spawn_worker(self, *, events: bool) -> Proc:
        env = {**self.env, "CELERY_WORKER_SEND_TASK_EVENTS": "true" if events else "false"}
        return self.proc("worker", ["bin/worker", "-c", "2"], env=env, cwd=ROOT)

    def spawn_flower(self) -> Proc:
        port = free_port()
        env = {**self.env, "FLOWER_PORT": str(port), "FLOWER_BASIC_AUTH": "bench:" + self.password}
        flower = self.proc("flower", ["bin/flower"], env=env, cwd=ROOT)
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/"), timeout=60, what="the service's Flower")
        return flower

    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update(self.headers)
        return session

    def submit(self, session: requests.Session) -> str:
        response = session.post(
            self.base_url + "/api/jobs/", json={"type": "math.add", "params": {"x": 2, "y": 3}}, timeout=10
        )
        response.raise_for_status()
        return response.json()["id"]

    def finished_job(self) -> str:
        session = self.session()
        job_id = self.submit(session)
        wait_until(
            lambda: (
                session.get(self.base_url + f"/api/jobs/{job_id}/", timeout=10).json()["status"]
                == "succeeded"
            ),
            timeout=60,
            what="the first job",
        )
        return job_id

    def enqueue(self, jobs: int) -> None:
        session = self.session()
        for start in range(0, jobs, 1000):
            body = batch_body(min(1000, jobs - start))
            response = session.post(
                self.base_url + "/api/jobs/batch/",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            response.raise_for_status()

    def clear_results(self) -> None:
        self.sql("TRUNCATE django_celery_results_taskresult, jobs_job CASCADE")

    def latency(self, samples: int) -> list[float]:
        """Submit, then follow the job's event stream until its terminal status arrives."""
        session, seconds = self.session(), []
        for _ in range(samples):
            started = time.perf_counter()
            job_id = self.submit(session)
            url = self.base_url + f"/api/jobs/{job_id}/events/"
            with session.get(url, stream=True, timeout=30) as stream:
                terminal = False
                for line in stream.iter_lines():
                    if line.startswith(b"data: ") and re.search(
                        rb'"status": "(succeeded|failed|cancelled)"', line
                    ):
                        terminal = True
                        break
                if not terminal:
                    raise SystemExit(
                        f"bench: the event stream of job {job_id} ended without a terminal status"
                    )
            seconds.append(time.perf_counter() - started)
        return seconds

    def streams(self, count: int) -> dict:
        """Hold `count` streams on queued jobs (no worker running), cancel every job in bulk, and
        time each terminal event from the job's finished_at (in the ledger) to its arrival here."""
        session = self.session()
        job_ids = []
        for start in range(0, count, 1000):
            jobs = [{"type": "math.add", "params": {"x": 1, "y": 1}}] * min(1000, count - start)
            response = session.post(self.base_url + "/api/jobs/batch/", json={"jobs": jobs}, timeout=60)
            response.raise_for_status()
            job_ids += [job["id"] for job in response.json()["jobs"]]
        broker = redis.Redis(port=self.redis_port, db=self.broker_db)
        rss_before = web_rss_bytes(self.web.popen.pid)

        async def follow():
            crowd = Crowd(
                host="127.0.0.1", port=self.web_port, token=self.headers["Authorization"].split()[1]
            )
            opened = time.perf_counter()
            await crowd.open(job_ids, timeout=600)
            opened = time.perf_counter() - opened
            held = {"rss": web_rss_bytes(self.web.popen.pid), "redis": stream_connections(broker)}
            cancel_s = []
            for start in range(0, count, 1000):
                began = time.perf_counter()
                answer = await asyncio.to_thread(
                    session.post,
                    self.base_url + "/api/jobs/cancel/",
                    json={"ids": job_ids[start : start + 1000]},
                    timeout=60,
                )
                answer.raise_for_status()
                cancel_s.append(time.perf_counter() - began)
            await crowd.wait(lambda stream: stream.terminal is not None, timeout=300, what="terminal events")
            await crowd.close()
            return crowd, opened, held, cancel_s

        crowd, opened_s, held, cancel_s = asyncio.run(follow())
        lags = [
            stream.terminal_at - datetime.fromisoformat(stream.terminal["data"]["finished_at"]).timestamp()
            for stream in crowd.streams.values()
        ]
        return {
            "streams": count,
            "terminal_events": sum(stream.terminal is not None for stream in crowd.streams.values()),
            "open_s": opened_s,
            "lag_min_ms": min(lags) * 1000,
            "lag_p50_ms": percentile(lags, 50) * 1000,
            "lag_p99_ms": percentile(lags, 99) * 1000,
            "lag_max_ms": max(lags) * 1000,
            "rss_kib_per_stream": (held["rss"] - rss_before) / 1024 / count,
            "redis_connections": sum(held["redis"].values()),
            "redis_connections_per_web_process": max(held["redis"].values()),
            "bulk_cancel_s": cancel_s,
            "bulk_cancel_per_s": count / sum(cancel_s),
        }


def web_rss_bytes(web_pid: int) -> int:
    """Resident memory of the web server's worker processes (the children of bin/web's uvicorn)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == web_pid:
                total += int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total


def stream_connections(client: redis.Redis) -> dict[str, int]:
    """The Redis connections each web process's stream hub holds: it names them
    `jobs-stream-<role>-<pid>` (jobs/api/stream_hub.py, which this standalone script cannot import)."""
    counts: dict[str, int] = {}
    for c in client.client_list():
        if c["name"].startswith("jobs-stream-"):
            pid = c["name"].rpartition("-")[2]
            counts[pid] = counts.get(pid, 0) + 1
    return counts


def batch_body(count: int) -> str:
    return json.dumps({"jobs": [{"type": "math.add", "params": {"x": n, "y": 1}} for n in range(count)]})


# --- The run ------------------------------------------------------------------------------------


def measure(setup: Setup, args) -> dict:
    figures: dict = {}
    log(f"{setup.name}: starting")
    setup.start()
    job_id = setup.finished_job()
    d = args.duration
    log(f"{setup.name}: GET one job, 8 connections, {d:g} s")
    figures["get"] = setup.load(setup.job_path.format(id=job_id), connections=8, duration_s=d)
    log(f"{setup.name}: POST one job, 8 connections, worker running, {d:g} s")
    figures["post"] = setup.load(
        setup.submit_path, connections=8, duration_s=d, method="POST", body=setup.submit_body
    )
    if isinstance(setup, Service):
        for connections in (32, 64):
            log(f"{setup.name}: GET one job, {connections} connections, {d:g} s")
            figures[f"get_c{connections}"] = setup.load(
                setup.job_path.format(id=job_id), connections=connections, duration_s=d
            )
        setup.stop_worker_and_purge()
        log(f"{setup.name}: POST batches of 1,000, 2 connections, {max(d, 3):g} s")
        # A batch takes about a second: at least three, so even the smoke completes some.
        batch = setup.load(
            "/api/jobs/batch/", connections=2, duration_s=max(d, 3), method="POST", body=batch_body(1000)
        )
        batch["jobs_per_s"] = batch["rps"] * 1000
        figures["batch"] = batch
        setup.stop_worker_and_purge()
        setup.start_worker()
        setup.finished_job()  # the worker is up before the latency samples start
    else:
        setup.stop_worker_and_purge()
        setup.start_worker()
        setup.finished_job()
    log(f"{setup.name}: submit to terminal state, {args.latency_samples} jobs one after another")
    seconds = setup.latency(args.latency_samples)
    figures["latency"] = {
        "p50_ms": statistics.median(seconds) * 1000,
        "p95_ms": percentile(seconds, 95) * 1000,
        "samples": len(seconds),
    }
    log(f"{setup.name}: drain {args.jobs} queued jobs")
    figures["drain"] = setup.drain(jobs=args.jobs, events=False)
    log(f"{setup.name}: drain {args.jobs} queued jobs, task events on and Flower running")
    figures["drain_events"] = setup.drain(jobs=args.jobs, events=True)
    if isinstance(setup, Service):
        for count in args.streams:
            # No worker: the jobs stay queued (their messages in Redis) until the bulk cancel.
            setup.stop_worker_and_purge()
            log(f"{setup.name}: {count} streams held on queued jobs, then every job cancelled in bulk")
            figures[f"streams_{count}"] = setup.streams(count)
    if isinstance(setup, Tutorial):
        log(f"{setup.name}: Celery's ignore_result drain of {args.jobs} tasks (the ceiling)")
        # Timed on the queue's length, which needs more than the smoke's handful of tasks.
        figures["ceiling"] = setup.ceiling(jobs=max(args.jobs, 500))
    setup.stop()
    return figures


def sessions_per_1000(load: dict) -> float:
    return 1000 * load["sessions"] / load["requests"] if load["requests"] else 0.0


def report(tutorial: dict, service: dict) -> list[tuple[str, str, str, str]]:
    """Rows of (measure, tutorial, service, ratio). Ratios are service / tutorial, so higher is
    better, except latency's, which is tutorial / service (also higher is better)."""

    def load(fig):
        return f"{fig['rps']:,.0f} req/s, p50 {fig['p50_ms']:.1f} ms, p99 {fig['p99_ms']:.1f} ms"

    def ratio(ours, theirs):
        return f"{ours / theirs:.2f}x" if theirs else "-"

    ceiling = tutorial["ceiling"]["per_s"]
    sweep = [service["get_c32"], service["get_c64"]]
    not_2xx = sum(fig["non_2xx"] for fig in sweep)
    socket_errors = sum(fig["errors"] - fig["non_2xx"] for fig in sweep)
    t_lat, s_lat = tutorial["latency"], service["latency"]
    return [
        (
            "GET one job, 8 connections",
            load(tutorial["get"]),
            load(service["get"]),
            ratio(service["get"]["rps"], tutorial["get"]["rps"]),
        ),
        (
            "POST one job, 8 connections, worker running",
            load(tutorial["post"]),
            load(service["post"]),
            ratio(service["post"]["rps"], tutorial["post"]["rps"]),
        ),
        (
            "POST a batch of 1,000, 2 connections",
            "-",
            f"{service['batch']['jobs_per_s']:,.0f} jobs/s",
            ratio(service["batch"]["jobs_per_s"], tutorial["post"]["rps"]) + " the tutorial's POST",
        ),
        (
            "Drain queued jobs, outcomes in PostgreSQL",
            f"{tutorial['drain']['per_s']:,.0f} jobs/s",
            f"{service['drain']['per_s']:,.0f} jobs/s",
            ratio(service["drain"]["per_s"], tutorial["drain"]["per_s"])
            + (f" ({service['drain']['per_s'] / ceiling:.0%} of the ceiling)" if ceiling else ""),
        ),
        (
            "The same, task events on and Flower running",
            f"{tutorial['drain_events']['per_s']:,.0f} jobs/s",
            f"{service['drain_events']['per_s']:,.0f} jobs/s",
            ratio(service["drain_events"]["per_s"], tutorial["drain_events"]["per_s"]),
        ),
        (
            "Submit to terminal state, p50 / p95",
            f"{t_lat['p50_ms']:.1f} / {t_lat['p95_ms']:.1f} ms (polling every {POLL_INTERVAL_S * 1000:g} ms)",
            f"{s_lat['p50_ms']:.1f} / {s_lat['p95_ms']:.1f} ms (SSE)",
            ratio(t_lat["p50_ms"], s_lat["p50_ms"]) + " faster",
        ),
        (
            "PostgreSQL sessions per 1,000 requests (GET, POST)",
            f"{sessions_per_1000(tutorial['get']):.0f}, {sessions_per_1000(tutorial['post']):.0f}",
            f"{sessions_per_1000(service['get']):.1f}, {sessions_per_1000(service['post']):.1f}",
            "",
        ),
        (
            "GET at 32 / 64 connections",
            "-",
            f"{sweep[0]['rps']:,.0f} / {sweep[1]['rps']:,.0f} req/s; {not_2xx} answers not 2xx, "
            f"{socket_errors} socket errors",
            "",
        ),
        ("Celery ignore_result drain (the ceiling)", f"{ceiling:,.0f} tasks/s", "", ""),
        *[stream_row(service[key]) for key in sorted(service, key=str) if key.startswith("streams_")],
        ("CPU ms per GET: " + CPU_ROLES, cpu(tutorial["get"]), cpu(service["get"]), ""),
        ("CPU ms per POST: " + CPU_ROLES, cpu(tutorial["post"]), cpu(service["post"]), ""),
        ("CPU ms per drained job: " + CPU_ROLES, cpu(tutorial["drain"]), cpu(service["drain"]), ""),
    ]


def stream_row(fig: dict) -> tuple[str, str, str, str]:
    return (
        f"{fig['streams']:,} SSE streams, every job cancelled in bulk",
        "-",
        f"{fig['terminal_events']:,}/{fig['streams']:,} terminal events; lag min {fig['lag_min_ms']:.0f}, "
        f"p50 {fig['lag_p50_ms']:.0f}, "
        f"p99 {fig['lag_p99_ms']:.0f}, max {fig['lag_max_ms']:.0f} ms; "
        f"{fig['rss_kib_per_stream']:.1f} KiB per stream; {fig['redis_connections']} Redis connections "
        f"({fig['redis_connections_per_web_process']:g} per web process); bulk cancel "
        f"{fig['bulk_cancel_per_s']:,.0f} jobs/s (slowest 1,000 in {max(fig['bulk_cancel_s']):.2f} s)",
        "",
    )


CPU_ROLES = "web / worker / PostgreSQL / Redis"


def cpu(figure: dict) -> str:
    roles = ("web", "worker", "postgres", "redis")
    return " / ".join(f"{figure['cpu_ms'].get(role, 0.0):.2f}" for role in roles)


def markdown(rows) -> str:
    lines = ["| Measure | Tutorial stack | This service | Ratio |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per HTTP measure")
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per drain")
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument(
        "--streams",
        type=lambda v: [int(n) for n in v.split(",")],
        default=[1000, 5000],
        help="numbers of SSE streams to hold at once (comma-separated)",
    )
    parser.add_argument("--smoke", action="store_true", help="a handful of jobs and a second of load")
    parser.add_argument("--only", choices=["tutorial", "service"], help="measure one setup (no ratios)")
    parser.add_argument("--json", type=Path, default=ROOT / ".var" / "bench" / "result.json")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.jobs, args.latency_samples, args.streams = 1.0, 20, 3, [20]

    pg_port, redis_port = int(os.environ["PG_PORT"]), int(os.environ["REDIS_PORT"])
    pg_log = Path(os.environ["PG_LOG"])
    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    log(f"process logs in {log_dir}")
    result = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "args": vars(args) | {"json": str(args.json)}}
    classes = (
        [Tutorial, Service] if args.only is None else [{"tutorial": Tutorial, "service": Service}[args.only]]
    )
    for cls in classes:
        setup = cls(pg_port=pg_port, redis_port=redis_port, pg_log=pg_log, log_dir=log_dir)
        with stopping(setup):
            result[setup.name] = measure(setup, args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    if args.only is None:
        print(markdown(report(result["tutorial"], result["service"])))
    else:
        print(json.dumps(result[args.only], indent=2))
    log(f"figures written to {args.json}")


@contextmanager
def stopping(setup: Setup):
    try:
        yield
    finally:
        setup.stop()


if __name__ == "__main__":
    main()

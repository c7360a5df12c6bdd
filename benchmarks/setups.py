"""The two setups `make bench` compares: what both do, and the tutorial stack (benchmarks/tutorial/)."""

import os
import subprocess
import time
from pathlib import Path

import psycopg
import redis
import requests
from harness import (
    BIN,
    POLL_INTERVAL_S,
    PYTHON,
    TUTORIAL,
    TUTORIAL_BROKER_DB,
    Proc,
    SessionCounter,
    answers,
    cpu_ms_per,
    cpu_seconds_by_role,
    free_port,
    wait_until,
    wrk,
)

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

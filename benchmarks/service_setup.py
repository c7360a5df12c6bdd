"""This service as `make bench` runs it: production settings, bin/web and bin/worker."""

import asyncio
import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import redis
import requests
from harness import (
    ROOT,
    SERVICE_BROKER_DB,
    SERVICE_CACHE_DB,
    WEB_PROCESSES,
    Proc,
    answers,
    free_port,
    percentile,
    wait_until,
)
from setups import Setup
from sse_crowd import Crowd

# The web's and the worker's metrics, in a folder of this run's own (as `make run` empties its own).
METRICS_DIR = tempfile.mkdtemp(prefix="bench-metrics-")


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
            "PROMETHEUS_MULTIPROC_DIR": METRICS_DIR,
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

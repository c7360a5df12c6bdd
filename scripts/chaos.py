"""Chaos run: jobs in flight while workers, the broker and PostgreSQL are killed. Nothing may be lost,
and no job's side effect may happen twice.

    make chaos                                  # 600 jobs, every fault, PostgreSQL down for 20 s
    python scripts/chaos.py --jobs 150 --postgres-down-s 5    # the short form `make test` runs
    BROKER=rabbitmq python scripts/chaos.py ...               # with RabbitMQ as the broker

It runs a private stack (PostgreSQL, Redis, web, two workers, beat) in .var/chaos-<pid>/ on
free ports, submits `test.ledger` jobs over HTTP (each writes a ledger row keyed by job id in
its own transaction), and meanwhile:

  1. kill -9 the pool processes of worker A;
  2. kill -9 worker A's main process, and start a new worker;
  3. kill -9 the broker (Redis, or RabbitMQ), submit jobs while it is down, and start it again
     (Redis keeps its AOF, RabbitMQ its durable queues);
  4. stop PostgreSQL (immediate shutdown) for --postgres-down-s seconds, submitting meanwhile.

Then it waits for every accepted job (202) to reach a final status and prints one line:
accepted, succeeded, failed, lost (accepted but never final) and duplicated (ledger rows beyond
one per job). It exits 1 unless lost and duplicated are both 0 and every succeeded job has its
ledger row.
"""

import argparse
import contextlib
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Stack:
    """The private stack: servers via scripts/stack.sh, processes in their own process groups."""

    def __init__(self, var: Path):
        self.var = var
        self.logs = var / "logs"
        self.pg_port, self.redis_port, self.rabbit_port = free_port(), free_port(), free_port()
        self.web_port = free_port()
        # BROKER=rabbitmq (as make test's second pass sets): RabbitMQ carries the jobs, Redis
        # keeps the events, locks and cache; the broker is what fault 3 kills.
        self.broker = os.environ.get("BROKER", "redis")
        broker_url = (
            f"amqp://guest:guest@127.0.0.1:{self.rabbit_port}//"
            if self.broker == "rabbitmq"
            else f"redis://127.0.0.1:{self.redis_port}/0"
        )
        self.env = {
            **os.environ,
            "STACK_VAR_DIR": str(var),
            "PG_PORT": str(self.pg_port),
            "REDIS_PORT": str(self.redis_port),
            "RABBIT_PORT": str(self.rabbit_port),
            "BROKER": self.broker,
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.pg_port}/jobs",
            "CELERY_BROKER_URL": broker_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "DEBUG": "true",
            "LOG_LEVEL": "INFO",
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
            "JOB_TYPE_MODULES": "jobs.builtin_types,tests.job_types",
            "CELERY_WORKER_SEND_TASK_EVENTS": "false",
            # Fast repair, so a run takes a minute or two rather than many.
            "JOB_HEARTBEAT_S": "1",
            "JOB_HEARTBEAT_TIMEOUT_S": "6",
            "JOB_RECONCILE_INTERVAL_S": "2",
            "JOB_RECONCILE_QUEUED_AFTER_S": "10",
            "BEAT_LOCK_TTL_S": "5",
            "WEB_PORT": str(self.web_port),
            "WEB_CONCURRENCY": "1",
            "API_THROTTLE_USER": "100000/min",
        }
        self.processes: dict[str, subprocess.Popen] = {}

    def servers_up(self) -> None:
        subprocess.run(
            ["scripts/stack.sh", "up", "test"], cwd=ROOT, env=self.env, check=True, capture_output=True
        )

    def servers_down(self) -> None:
        subprocess.run(["scripts/stack.sh", "stop", "test"], cwd=ROOT, env=self.env, capture_output=True)

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def start_worker(self, name: str) -> subprocess.Popen:
        return self.start(
            name, ["celery", "-A", "config", "worker", "-l", "info", "-c", "2", "-n", f"{name}@%h"]
        )

    def kill(self, name: str, sig=signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)

    def broker_pid(self) -> int:
        pid_file = "rabbitmq/rabbitmq.pid" if self.broker == "rabbitmq" else "redis/redis.pid"
        return int((self.var / pid_file).read_text())

    def postgres_stop_immediately(self) -> None:
        pg_ctl = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")) or [shutil.which("pg_ctl")]
        command = [pg_ctl[-1], "-D", str(self.var / "pg"), "-m", "immediate", "stop"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)


class Client:
    def __init__(self, base: str, token: str):
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.accepted: list[str] = []
        self.refused = 0

    def wait_up(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if self.session.get(f"{self.base}/api/jobs/", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise SystemExit("the web server did not come up")

    def submit(self, count: int, *, batch: bool) -> None:
        jobs = [
            {"type": "test.ledger", "params": {"sleep_s": round(random.uniform(0.05, 0.5), 3)}}
            for _ in range(count)
        ]
        try:
            if batch:
                response = self.session.post(f"{self.base}/api/jobs/batch/", json={"jobs": jobs}, timeout=60)
                if response.status_code == 202:
                    self.accepted += [job["id"] for job in response.json()["jobs"]]
                    return
                self.refused += count
                return
            for job in jobs:
                response = self.session.post(f"{self.base}/api/jobs/", json=job, timeout=60)
                if response.status_code == 202:
                    self.accepted.append(response.json()["id"])
                else:
                    self.refused += 1
        except requests.RequestException:
            self.refused += count


def final_counts(stack: Stack, accepted: list[str]) -> dict:
    """Read the outcome straight from PostgreSQL."""
    import psycopg

    with psycopg.connect(stack.env["DATABASE_URL"]) as conn:
        statuses = dict(
            conn.execute(
                "SELECT status, count(*) FROM jobs_job WHERE id = ANY(%s::uuid[]) GROUP BY status", [accepted]
            ).fetchall()
        )
        duplicated = conn.execute(
            "SELECT coalesce(sum(n - 1), 0) "
            "FROM (SELECT count(*) AS n FROM test_ledger GROUP BY job_id) AS per_job"
        ).fetchone()[0]
        missing = conn.execute(
            "SELECT count(*) FROM jobs_job j WHERE j.id = ANY(%s::uuid[]) AND j.status = 'succeeded' "
            "AND NOT EXISTS (SELECT 1 FROM test_ledger l WHERE l.job_id = j.id)",
            [accepted],
        ).fetchone()[0]
        lost_attempts = conn.execute(
            "SELECT count(*) FROM jobs_jobattempt "
            "WHERE error_type = 'WorkerLost' AND job_id = ANY(%s::uuid[])",
            [accepted],
        ).fetchone()[0]
    final = sum(statuses.get(s, 0) for s in ("succeeded", "failed", "cancelled"))
    return {
        "accepted": len(accepted),
        "succeeded": statuses.get("succeeded", 0),
        "failed": statuses.get("failed", 0),
        "lost": len(accepted) - final,
        "duplicated": int(duplicated),
        "missing_effects": missing,
        "attempts_rerun_after_worker_loss": lost_attempts,
        "not_final_by_status": {
            s: n for s, n in statuses.items() if s not in ("succeeded", "failed", "cancelled")
        },
    }


def prepare(stack: Stack) -> str:
    """Migrate, create the ledger table and a user; return the user's API token."""
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=stack.env,
        check=True,
        capture_output=True,
    )
    script = (
        "from django.contrib.auth import get_user_model; from django.db import connection;"
        "from rest_framework.authtoken.models import Token; from tests.job_types import ledger_table_ensure;"
        "cursor = connection.cursor(); ledger_table_ensure(cursor);"
        "user, _ = get_user_model().objects.get_or_create(username='chaos');"
        "print(Token.objects.get_or_create(user=user)[0].key)"
    )
    result = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=stack.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip().splitlines()[-1]


def run(args) -> dict:
    stack = Stack(ROOT / ".var" / f"chaos-{os.getpid()}")
    broker = f", RabbitMQ :{stack.rabbit_port}" if stack.broker == "rabbitmq" else ""
    say(f"private stack in {stack.var}: PostgreSQL :{stack.pg_port}, Redis :{stack.redis_port}{broker}")
    stack.servers_up()
    try:
        token = prepare(stack)
        stack.start("web", ["bin/web"])
        stack.start_worker("chaosA")
        stack.start_worker("chaosB")
        stack.start("beat", ["bin/beat"])
        client = Client(f"http://127.0.0.1:{stack.web_port}", token)
        client.wait_up()

        upfront = args.jobs - args.during_redis_outage
        for start in range(0, upfront, 100):
            client.submit(min(100, upfront - start), batch=True)
        say(f"{len(client.accepted)} jobs accepted; injecting faults")

        time.sleep(args.pause_s)
        worker = stack.processes["chaosA"]
        children = subprocess.run(
            ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True
        ).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)
        say(f"1. killed {len(children)} pool processes of worker A")

        time.sleep(args.pause_s)
        stack.kill("chaosA")
        stack.start_worker("chaosA2")
        say("2. killed worker A's main process (kill -9) and started worker A2")

        time.sleep(args.pause_s)
        os.kill(stack.broker_pid(), signal.SIGKILL)
        say(f"3. killed the broker ({stack.broker}, kill -9); submitting while it is down")
        client.submit(args.during_redis_outage, batch=False)
        time.sleep(2)
        stack.servers_up()
        say(f"   the broker started again; {len(client.accepted)} accepted so far")

        time.sleep(args.pause_s)
        stack.postgres_stop_immediately()
        say(f"4. stopped PostgreSQL (immediate) for {args.postgres_down_s} s; submitting meanwhile")
        refused_before = client.refused
        client.submit(3, batch=False)
        time.sleep(args.postgres_down_s)
        stack.servers_up()
        say(f"   PostgreSQL started again; {client.refused - refused_before} submits refused while down")

        deadline = time.monotonic() + args.timeout_s
        while time.monotonic() < deadline:
            try:
                counts = final_counts(stack, client.accepted)
            except Exception as exc:
                say(f"   waiting for PostgreSQL: {exc.__class__.__name__}")
                time.sleep(1)
                continue
            if counts["lost"] == 0:
                break
            time.sleep(1)
        counts = final_counts(stack, client.accepted)
        counts["refused_during_outages"] = client.refused
        return counts
    finally:
        stack.stop_all()
        stack.servers_down()
        if not args.keep:
            shutil.rmtree(stack.var, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=600, help="jobs to submit in all (default 600)")
    parser.add_argument(
        "--during-redis-outage", type=int, default=20, help="of which, submitted with Redis down"
    )
    parser.add_argument("--postgres-down-s", type=float, default=20)
    parser.add_argument("--pause-s", type=float, default=3, help="time between faults")
    parser.add_argument(
        "--timeout-s", type=float, default=300, help="how long to wait for every job to finish"
    )
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder and logs")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.jobs <= args.during_redis_outage:
        parser.error("--jobs must exceed --during-redis-outage")

    started = time.monotonic()
    counts = run(args)
    counts["seconds"] = round(time.monotonic() - started, 1)
    print(
        "accepted={accepted} succeeded={succeeded} failed={failed} lost={lost} duplicated={duplicated} "
        "missing_effects={missing_effects} reruns_after_worker_loss={attempts_rerun_after_worker_loss} "
        "refused_during_outages={refused_during_outages} seconds={seconds}".format(**counts),
        flush=True,
    )
    if args.json:
        args.json.write_text(json.dumps(counts, indent=2))
    ok = counts["lost"] == 0 and counts["duplicated"] == 0 and counts["missing_effects"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

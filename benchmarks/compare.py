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
import json
import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from harness import POLL_INTERVAL_S, ROOT, log, percentile
from service_setup import Service, batch_body
from setups import Setup, Tutorial

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

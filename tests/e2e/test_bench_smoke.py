"""`make bench` itself, with a handful of jobs and a second of load, so the harness cannot rot.

This is not a timed test: it checks that every figure is measured for both setups, and what
holds at any speed: no answer but 2xx under load, and the web's PostgreSQL sessions bounded
by its pool however many requests it serves.
"""

import json
import os
import shutil
import subprocess
import uuid

import pytest

from tests.conftest import ROOT, free_port

WEB_PROCESSES, POOL_SIZE = 2, 8  # bin/web's default WEB_CONCURRENCY, DATABASE_POOL_MAX_SIZE


@pytest.fixture(scope="module")
def figures():
    # Its own PostgreSQL and Redis, under the repository (the 'postgres' user must reach them).
    var = ROOT / ".var" / f"bench-smoke-{uuid.uuid4().hex[:8]}"
    out = var / "result.json"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env.update(STACK_VAR_DIR=str(var), PG_PORT=str(free_port()), REDIS_PORT=str(free_port()))
    try:
        run = subprocess.run(
            ["scripts/stack.sh", "bench", "--smoke", "--json", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
        yield json.loads(out.read_text()), run.stdout
    finally:
        shutil.rmtree(var, ignore_errors=True)


def test_it_measures_every_figure_for_both_setups(figures):
    result, _ = figures
    for setup in ("tutorial", "service"):
        for name in ("get", "post"):
            assert result[setup][name]["requests"] > 0, (setup, name)
        assert result[setup]["latency"]["samples"] == 3
        for drain in ("drain", "drain_events"):
            assert result[setup][drain]["jobs"] == 20
            assert result[setup][drain]["per_s"] > 0, (setup, drain)
        # CPU time per request and per job, by process, for the "why" of each figure.
        assert result[setup]["get"]["cpu_ms"]["web"] > 0, setup
        assert result[setup]["drain"]["cpu_ms"]["worker"] > 0, setup
    assert result["tutorial"]["ceiling"]["per_s"] > 0
    assert result["service"]["batch"]["jobs_per_s"] > 0
    streams = result["service"]["streams_20"]
    assert streams["terminal_events"] == 20
    assert streams["lag_max_ms"] > 0 and streams["bulk_cancel_per_s"] > 0
    # The streams share each web process's reader and its two command connections.
    assert 1 <= streams["redis_connections_per_web_process"] <= 4


def test_it_prints_a_table_with_a_ratio_for_each_figure(figures):
    _, table = figures
    assert "| Measure | Tutorial stack | This service | Ratio |" in table
    measures = ("GET one job", "POST one job", "batch of 1,000", "Drain", "Submit to terminal", "sessions")
    for measure in measures:
        assert measure in table, measure


def test_every_answer_is_2xx_at_8_32_and_64_connections(figures):
    result, _ = figures
    for load in ("get", "post", "get_c32", "get_c64"):
        assert result["service"][load]["errors"] == 0, (load, result["service"][load])


def test_the_web_opens_no_more_database_sessions_than_its_pools_hold(figures):
    result, _ = figures
    service = result["service"]
    loads = [service[name] for name in ("get", "post", "get_c32", "get_c64")]
    assert sum(load["sessions"] for load in loads) <= WEB_PROCESSES * POOL_SIZE
    # The tutorial's connection per request is what this guards against.
    assert result["tutorial"]["get"]["sessions"] >= result["tutorial"]["get"]["requests"]

"""Seed 1,000,000 jobs and time what operators feel: a daily report and the admin job list.

Run against the test stack's PostgreSQL (`make services`), from the repository root:

    .venv/bin/python benchmarks/million_jobs.py            # seeds once, then measures
    .venv/bin/python benchmarks/million_jobs.py --reseed   # drop and seed again

It uses its own database, `jobs_bench`, next to the stack's `jobs`. The jobs span the last
48 hours across every status and built-in type, with realistic run times and queue waits.
Timings are medians of several runs, printed as a Markdown table for docs/benchmarks.md.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
_url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:54321/jobs"))
os.environ["DATABASE_URL"] = urlunsplit(_url._replace(path="/jobs_bench"))

import django  # noqa: E402 -- the database URL must be chosen first
import psycopg  # noqa: E402 -- with django, after the URL is chosen

JOBS = 1_000_000
RUNS = 5

SEED_SQL = """
INSERT INTO jobs_job (
    id, owner_id, type, params, status, queue, priority, callback_url, idempotency_key,
    request_fingerprint, progress_message, attempts, error_type, error_message,
    created_at, started_at, finished_at, publish_failed
)
SELECT
    gen_random_uuid(),
    %(owner)s,
    (ARRAY['math.add', 'math.divide', 'text.uppercase', 'demo.countdown', 'http.fetch'])[1 + n %% 5],
    '{}'::jsonb,
    s.status,
    'default', 5, '', '', '', '',
    CASE WHEN s.status IN ('queued', 'scheduled') THEN 0 ELSE 1 END,
    CASE WHEN s.status = 'failed' THEN (ARRAY['ZeroDivisionError', 'TimeoutError', 'ValueError'])[1 + n %% 3]
         ELSE '' END,
    CASE WHEN s.status = 'failed' THEN 'seeded failure' ELSE '' END,
    t.created,
    CASE WHEN s.status IN ('queued', 'scheduled') THEN NULL ELSE t.created + t.wait END,
    CASE WHEN s.status IN ('succeeded', 'failed', 'cancelled') THEN t.created + t.wait + t.run END,
    false
FROM generate_series(1, %(count)s) AS n
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN n %% 100 < 85 THEN 'succeeded' WHEN n %% 100 < 95 THEN 'failed'
        WHEN n %% 100 < 97 THEN 'cancelled' WHEN n %% 100 < 98 THEN 'running' ELSE 'queued'
    END AS status
) AS s
CROSS JOIN LATERAL (
    SELECT now() - (n * interval '48 hours' / %(count)s) AS created,
           (random() * 2) * interval '1 second' AS wait,
           (random() * random() * 30) * interval '1 second' AS run
) AS t
"""


def ensure_database(reseed: bool) -> None:
    admin_url = urlunsplit(_url._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'jobs_bench'").fetchone()
        if exists and reseed:
            conn.execute("DROP DATABASE jobs_bench WITH (FORCE)")
            exists = None
        if not exists:
            conn.execute("CREATE DATABASE jobs_bench")


def seed() -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from jobs.models import Job

    call_command("migrate", verbosity=0)
    if Job.objects.exists():
        print(f"jobs_bench already holds {Job.objects.count():,} jobs; --reseed to start over")
        return
    owner, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(SEED_SQL, {"owner": owner.pk, "count": JOBS})
        cursor.execute("ANALYZE jobs_job")
    print(f"seeded {JOBS:,} jobs in {time.perf_counter() - started:.1f} s")


def median_ms(action, runs: int = RUNS) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def measure() -> list[tuple[str, float]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)

    def page(path):
        def get():
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        return get

    results = [
        ("admin job list, first page", median_ms(page("/admin/jobs/job/"))),
        ("admin job list, page 50", median_ms(page("/admin/jobs/job/?p=50"))),
        (
            "admin job list, filtered by status=failed",
            median_ms(page("/admin/jobs/job/?status__exact=failed")),
        ),
        ("admin job list, search by username", median_ms(page("/admin/jobs/job/?q=bench"))),
    ]
    results += measure_report()
    return results


def measure_report() -> list[tuple[str, float]]:
    from reports import services as report_services

    return [
        ("daily report generation", median_ms(lambda: report_services.report_generate(kind="day"), runs=3))
    ]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reseed", action="store_true", help="drop jobs_bench and seed it again")
    args = parser.parse_args()
    ensure_database(args.reseed)
    django.setup()
    seed()
    results = measure()
    print(f"\nMachine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}")
    print(f"Median of {RUNS} runs (3 for the report), {JOBS:,} jobs in the table.\n")
    print("| What | Time |\n|---|---|")
    for what, ms in results:
        print(f"| {what} | {ms:,.0f} ms |")


if __name__ == "__main__":
    main()

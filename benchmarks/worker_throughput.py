"""How fast one worker (prefork, 2 processes) drains N math.add jobs end to end.

Run against the test stack (`make services`), from the repository root:

    .venv/bin/python benchmarks/worker_throughput.py --jobs 5000

It creates the jobs with the batch service (one transaction, one Redis pipeline), starts
`celery worker -c 2`, and prints the submit rate and the drain rate (jobs/s until every
job has succeeded, with the outcome stored in TaskResult). Compare with ../shared/FACTS.md.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")

import django  # noqa: E402 -- settings must be chosen first

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402 -- after django.setup()
from django_celery_results.models import TaskResult  # noqa: E402 -- after django.setup()

from jobs.models import BATCH_MAX_JOBS, Job  # noqa: E402 -- after django.setup()
from jobs.services.submit import job_create_many, job_spec_build  # noqa: E402 -- after django.setup()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    user, _ = get_user_model().objects.get_or_create(username="benchmark")
    Job.objects.filter(owner=user).delete()
    specs = [job_spec_build(type="math.add", params={"x": n, "y": 1}) for n in range(args.jobs)]

    started = time.perf_counter()
    for chunk in range(0, len(specs), BATCH_MAX_JOBS):
        job_create_many(owner=user, specs=specs[chunk : chunk + BATCH_MAX_JOBS])
    submit_s = time.perf_counter() - started
    print(f"submitted {args.jobs} jobs in {submit_s:.2f} s ({args.jobs / submit_s:.0f} jobs/s)")

    worker = subprocess.Popen(
        ["celery", "-A", "config", "worker", "-l", "warning", "-c", str(args.concurrency), "-n", "bench@%h"],
        cwd=ROOT,
        env={**os.environ, "CELERY_WORKER_SEND_TASK_EVENTS": "false"},
    )
    try:
        started = time.perf_counter()
        first_done = None
        while True:
            done = Job.objects.filter(owner=user, status="succeeded").count()
            if done and first_done is None:
                first_done = time.perf_counter()
            if done == args.jobs:
                break
            if worker.poll() is not None:
                sys.exit("the worker exited early")
            time.sleep(0.2)
        # Measured from the first finished job, so worker start-up is not counted.
        drain_s = time.perf_counter() - first_done
        print(f"drained {args.jobs} jobs in {drain_s:.2f} s ({args.jobs / drain_s:.0f} jobs/s)")
        job_ids = [str(pk) for pk in Job.objects.filter(owner=user).values_list("pk", flat=True)]
        stored = TaskResult.objects.filter(task_id__in=job_ids, status="SUCCESS").count()
        print(f"TaskResult rows with SUCCESS for these jobs: {stored}")
    finally:
        worker.terminate()
        worker.wait(30)


if __name__ == "__main__":
    main()

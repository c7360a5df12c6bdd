"""The short form of `make chaos`: every fault, fewer jobs, a shorter PostgreSQL outage."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.broker
def test_no_accepted_job_is_lost_or_doubled_while_workers_redis_and_postgres_are_killed():
    result = subprocess.run(
        [sys.executable, "scripts/chaos.py", "--jobs", "150", "--postgres-down-s", "5", "--timeout-s", "180"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = re.search(r"^accepted=.*$", result.stdout, re.MULTILINE)
    assert summary, result.stdout + result.stderr
    figures = dict(pair.split("=") for pair in summary.group(0).split())
    assert int(figures["accepted"]) >= 140  # all but the few submitted while PostgreSQL was down
    assert (figures["lost"], figures["duplicated"], figures["missing_effects"]) == ("0", "0", "0"), (
        result.stdout
    )
    assert result.returncode == 0

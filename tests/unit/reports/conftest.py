"""The report tests' fixtures."""

import pytest

from tests.unit.reports.data import ADD_RUN_TIMES, minutes, row, seed


@pytest.fixture
def jobs(user, other_user):
    """One window's worth of jobs, with the edge cases each selection rule decides."""
    adds = [
        row(user, "math.add", "succeeded", created=minutes(5 * i), wait_s=2, run_s=run_s)
        for i, run_s in enumerate(ADD_RUN_TIMES)  # one finishes in each of the first ten 5-minute buckets
    ]
    errors = ["ZeroDivisionError", "ZeroDivisionError", "ZeroDivisionError", "ValueError"]
    divides = [
        row(user, "math.divide", "failed", created=minutes(50), wait_s=4, run_s=0.5, error_type=error)
        for error in errors
    ]
    return seed(
        [
            *adds,
            *divides,
            row(user, "math.divide", "succeeded", created=minutes(51), wait_s=4, run_s=0.5),
            # Cancelled before a worker started it: no run time, no queue wait.
            row(user, "text.uppercase", "cancelled", created=minutes(56), finished=minutes(57)),
            row(user, "text.uppercase", "queued", created=minutes(58)),
            # Created before the window, finished in it: a run time, but not in by_status.
            row(user, "demo.countdown", "succeeded", created=minutes(-10), wait_s=1, run_s=660),
            # Created in the window, finished after it: in by_status and queue wait, not in run times.
            row(user, "math.add", "succeeded", created=minutes(59), wait_s=2, run_s=120),
            # Someone else's: only in the system-wide report.
            row(other_user, "text.uppercase", "succeeded", created=minutes(10), wait_s=1, run_s=1),
        ]
    )


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="carol", password="carol-password", is_staff=True)

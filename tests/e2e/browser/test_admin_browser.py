"""The operator's admin in a real browser: filter the job list, retry a failed job, watch progress."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jobs.models import Job, JobStatus
from tests.e2e.browser.conftest import admin_login, reload_until, screenshot


@pytest.fixture
def jobs(staff_user, user):
    now = timezone.now()

    def job(type, params, status, **fields):
        return Job.objects.create(owner=user, type=type, params=params, status=status, **fields)

    return {
        "succeeded": job("math.add", {"x": 2, "y": 3}, JobStatus.SUCCEEDED, started_at=now, finished_at=now),
        "divided_by_zero": job(
            "math.divide",
            {"x": 1, "y": 0},
            JobStatus.FAILED,
            error_type="ZeroDivisionError",
            error_message="division by zero",
        ),
        # Failed, but math.add with these params succeeds when the admin's retry queues it again.
        "retryable": job("math.add", {"x": 1, "y": 2}, JobStatus.FAILED, error_type="ConnectionError"),
        "running": job(
            "demo.countdown",
            {"word": "liftoff", "steps": 10, "delay_s": 1.0},
            JobStatus.RUNNING,
            started_at=now,
            progress_current=3,
            progress_total=10,
            progress_message="step 3 of 10",
        ),
    }


def row(page, job):
    return page.get_by_role("row").filter(has_text=str(job.pk))


def test_an_operator_filters_failed_jobs_and_retries_one_until_it_succeeds(page, jobs, celery_worker):
    admin_login(page)
    page.goto("/admin/jobs/job/")
    for job in jobs.values():
        expect(row(page, job)).to_be_visible()
    expect(row(page, jobs["running"]).get_by_role("progressbar")).to_have_attribute("aria-valuenow", "30")

    page.get_by_role("navigation", name="Filter").get_by_role("link", name="Failed", exact=True).click()
    expect(page).to_have_url(re.compile(r"status__exact=failed"))
    expect(row(page, jobs["divided_by_zero"])).to_be_visible()
    expect(row(page, jobs["retryable"])).to_be_visible()
    expect(row(page, jobs["succeeded"])).to_have_count(0)
    expect(row(page, jobs["running"])).to_have_count(0)

    retryable = jobs["retryable"]
    row(page, retryable).get_by_role("checkbox").check()
    page.get_by_role("combobox", name=re.compile(r"^Action")).select_option(label="Retry selected jobs")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist .success")).to_contain_text("1 job")
    # Queued again, so no longer in the failed list; the live worker then runs it.
    expect(row(page, retryable)).to_have_count(0)

    page.goto("/admin/jobs/job/")
    reload_until(page, row(page, retryable), re.compile("succeeded", re.I), what="the retried job to succeed")
    expect(row(page, jobs["divided_by_zero"])).to_contain_text(re.compile("failed", re.I))
    screenshot(page, "admin-job-list.png")


def test_a_running_jobs_page_shows_its_progress(page, jobs):
    admin_login(page)
    page.goto("/admin/jobs/job/")
    row(page, jobs["running"]).get_by_role("link", name=str(jobs["running"].pk)).click()

    expect(page).to_have_url(re.compile(rf"/admin/jobs/job/{jobs['running'].pk}/change/"))
    progress = page.get_by_role("group", name="Progress")
    bar = progress.get_by_role("progressbar", name="3 of 10")
    expect(bar).to_have_attribute("aria-valuenow", "30")
    expect(bar).to_contain_text("30%")
    expect(progress).to_contain_text("step 3 of 10")
    screenshot(page, "admin-job-page.png")

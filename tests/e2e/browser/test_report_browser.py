"""The report page in a real browser: a generated report draws its charts as inline SVG."""

from playwright.sync_api import expect

from tests.e2e.browser.conftest import admin_login, screenshot
from tests.e2e.helpers import submit, wait_until_finished


def seed_yesterdays_jobs(owner, count=48):
    """Finished jobs spread over yesterday (UTC), the window a daily report generated now covers."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs.models import Job

    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    types = ["math.add", "math.divide", "text.uppercase"]
    for n in range(count):
        created = midnight - timedelta(days=1) + timedelta(minutes=30 * n)
        job = Job.objects.create(
            owner=owner,
            type=types[n % 3],
            status="failed" if n % 5 == 0 else "succeeded",
            error_type="ZeroDivisionError" if n % 5 == 0 else "",
            attempts=1,
        )
        Job.objects.filter(pk=job.pk).update(
            created_at=created,
            started_at=created + timedelta(seconds=1),
            finished_at=created + timedelta(seconds=2 + n % 7),
        )


def test_a_generated_report_draws_its_charts_as_inline_svg(page, live_api, user, staff_user):
    seed_yesterdays_jobs(user)
    job_id = submit(live_api, "report.generate", window="day").json()["id"]
    job = wait_until_finished(live_api, job_id, timeout=60)
    assert job["status"] == "succeeded", job
    reports = live_api.get(f"{live_api.base_url}/api/reports/", timeout=10).json()
    reports = reports["results"] if isinstance(reports, dict) else reports
    assert len(reports) == 1, reports  # the database is emptied between tests: only this one

    admin_login(page)
    response = page.goto(f"/reports/{reports[0]['id']}/")

    assert response.status == 200
    expect(page.locator("svg").first).to_be_visible()
    charts = page.locator("svg").all()
    assert len(charts) == 3  # throughput, status breakdown, run time per type
    for chart in charts:
        assert _has_area(chart.bounding_box())
        bars = [_has_area(bar.bounding_box()) for bar in chart.locator("rect").all()]
        assert bars and all(bars), f"{chart.get_attribute('aria-label')} draws no bars"
    screenshot(page, "report.png")


def _has_area(box) -> bool:
    return box is not None and box["width"] > 0 and box["height"] > 0

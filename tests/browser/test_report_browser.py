"""The report page in a real browser: a generated report draws its charts as inline SVG."""

import pytest
from django.apps import apps
from playwright.sync_api import expect

from tests.browser.conftest import admin_login, screenshot
from tests.test_e2e import submit, wait_until_finished

pytestmark = pytest.mark.skipif(not apps.is_installed("reports"), reason="the reports app is not installed")


def test_a_generated_report_draws_its_charts_as_inline_svg(page, live_api, staff_user):
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
    charts = [
        svg
        for svg in page.locator("svg").all()
        if svg.locator("rect, path").count() and _has_area(svg.bounding_box())
    ]
    assert charts, "no <svg> on the page both takes up space and draws rect or path elements"
    screenshot(page, "report.png")


def _has_area(box) -> bool:
    return box is not None and box["width"] > 0 and box["height"] > 0

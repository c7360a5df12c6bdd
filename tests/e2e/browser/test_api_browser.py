"""The browsable API in a real browser: log in, submit a job with the HTML form, follow it."""

import re

from playwright.sync_api import expect

from tests.e2e.browser.conftest import reload_until


def test_a_job_submitted_with_the_browsable_apis_form_reaches_its_result(
    page, base_url, transactional_db, user, celery_worker
):
    page.goto("/api-auth/login/?next=/api/jobs/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("alice-password")  # the `user` fixture's
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/api/jobs/$"))

    # DRF's HTML form labels its fields without `for`, so the inputs are found by name.
    form = page.locator("#post-object-form")
    form.locator("select[name=type]").select_option("math.add")
    form.locator("textarea[name=params]").fill('{"x": 2, "y": 3}')
    form.get_by_role("button", name="POST").click()

    response = page.locator(".response-info")
    expect(response).to_contain_text("HTTP 202 Accepted")
    expect(response).to_contain_text('"type": "math.add"')
    expect(response).to_contain_text('"x": 2')

    job_id = re.search(r'"id": "([0-9a-f-]{36})"', response.inner_text()).group(1)
    response.get_by_role("link", name=f"{base_url}/api/jobs/{job_id}/").first.click()
    expect(page).to_have_url(f"{base_url}/api/jobs/{job_id}/")
    reload_until(page, response, re.compile(r'"result": 5\b'), what="the job's result")
    expect(response).to_contain_text('"status": "succeeded"')

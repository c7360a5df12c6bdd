"""Flower in a real browser: the worker is on its dashboard, behind HTTP basic auth, and each job
is listed by its type with its params."""

import re

import pytest
from playwright.sync_api import Error, expect

from tests.e2e.browser.conftest import FLOWER_PASSWORD, FLOWER_USER, screenshot
from tests.e2e.helpers import submit, wait_until_finished


def test_flower_shows_the_live_worker_to_someone_with_the_password(new_context, flower_server):
    page = new_context(http_credentials={"username": FLOWER_USER, "password": FLOWER_PASSWORD}).new_page()
    response = page.goto(flower_server)

    assert response.status == 200
    worker = page.get_by_role("row").filter(has=page.get_by_role("link", name=re.compile(r"\be2e@")))
    # Flower learns about the worker from its heartbeat events, every few seconds.
    expect(worker).to_contain_text("Online", timeout=30_000)


def test_flower_turns_away_a_browser_without_credentials(page, flower_server):
    # With no credentials to offer, Chromium ends the navigation at the 401 challenge.
    with (
        page.expect_response(f"{flower_server}/") as answer,
        pytest.raises(Error, match="ERR_INVALID_AUTH_CREDENTIALS"),
    ):
        page.goto(flower_server)

    assert answer.value.status == 401


def test_flower_names_each_job_by_its_type_and_shows_its_params(new_context, flower_server, live_api):
    job_id = submit(live_api, "text.uppercase", text="hello flower").json()["id"]
    wait_until_finished(live_api, job_id)
    page = new_context(http_credentials={"username": FLOWER_USER, "password": FLOWER_PASSWORD}).new_page()

    page.goto(f"{flower_server}/tasks")
    row = page.get_by_role("row").filter(has_text=job_id)
    expect(row).to_contain_text("text.uppercase", timeout=30_000)
    expect(row).to_contain_text("SUCCESS")
    screenshot(page, "flower-tasks.png")

    page.goto(f"{flower_server}/task/{job_id}")
    expect(page.locator("body")).to_contain_text("text.uppercase")
    expect(page.locator("body")).to_contain_text("{'text': 'hello flower'}")
    screenshot(page, "flower-task.png")

"""Flower in a real browser: the worker is on its dashboard, behind HTTP basic auth."""

import re

import pytest
from playwright.sync_api import Error, expect

from tests.e2e.browser.conftest import FLOWER_PASSWORD, FLOWER_USER


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

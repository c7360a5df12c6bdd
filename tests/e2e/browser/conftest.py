"""Real-browser tests: Playwright drives Debian's Chromium against the live stack of tests/conftest.py."""

import os
import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Process, free_port, wait_for, wait_for_http

# `make screenshots` points this at docs/screenshots/ to refresh the README's pictures; a normal
# test run writes them to a temporary folder, leaving the working tree clean.
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="screenshots-"))
# Playwright cannot download its own browser here; these flags keep Chromium off the network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright's 5 s default for each expect() is tight for a real password hash and Chromium
# sharing two cores with the whole stack; a page that never shows the text still fails.
expect.set_options(timeout=20_000)
FLOWER_USER, FLOWER_PASSWORD = "admin", "secret-flower"
STAFF_USERNAME, STAFF_PASSWORD = "operator", "operator-password"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # Wide enough for the admin's job list to fit beside its two sidebars in the screenshots.
    return {**browser_context_args, "viewport": {"width": 1600, "height": 900}}


@pytest.fixture(scope="session")
def playwright(live_env, playwright):
    # Playwright's sync API runs an asyncio event loop in this thread (in a greenlet) for as
    # long as it is started, so Django takes every ORM call the tests make as a call from async
    # code and raises SynchronousOnlyOperation. The tests are plain synchronous code that only
    # shares the thread with that loop, so the check is a false alarm here. The variable is set
    # for this process only and only while the loop runs: live_env comes first in the argument
    # list, so the environment of the servers (web, worker, Flower) is copied before it is set,
    # and they keep the check where it matters, in the ASGI app's async views.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # os.environ, put back as it was afterwards
        yield playwright


@pytest.fixture(scope="session")
def base_url(web_server):
    """Relative URLs in the browser (page.goto("/admin/")) go to the live web server."""
    return web_server


@pytest.fixture(scope="session")
def flower_server(live_env, live_logs, celery_worker):
    """Flower started by bin/flower, on a free port with known basic-auth credentials."""
    port = free_port()
    env = dict(live_env, FLOWER_PORT=str(port), FLOWER_BASIC_AUTH=f"{FLOWER_USER}:{FLOWER_PASSWORD}")
    flower = Process("flower", ["bin/flower"], env, live_logs)
    url = f"http://127.0.0.1:{port}"

    wait_for_http(url, status=401, timeout=60, what="Flower", process=flower)
    yield url
    flower.stop()


@pytest.fixture
def staff_user(transactional_db, django_user_model):
    """A superuser with a known password, committed so that the live web server sees it."""
    return django_user_model.objects.create_superuser(
        username=STAFF_USERNAME, password=STAFF_PASSWORD, email="operator@example.com"
    )


def admin_login(page: Page, *, username: str = STAFF_USERNAME, password: str = STAFF_PASSWORD):
    """Log in through the admin's login form, as a person would."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def reload_until(page: Page, locator, pattern: re.Pattern, *, timeout: float = 30, what: str):
    """Reload until `locator` shows text matching `pattern`: for state a worker changes meanwhile."""

    def shows():
        page.reload()
        return pattern.search(locator.inner_text(timeout=5_000))

    wait_for(shows, timeout=timeout, interval=0.5, what=what)


def screenshot(page: Page, name: str):
    """A full-page screenshot into SCREENSHOTS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=True)

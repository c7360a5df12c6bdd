"""Flower's options, read by `celery flower --conf=config/flowerconfig.py` (see bin/flower).

Flower reads the module-level names that match its options. Values come from the same
environment variables and validation as the Django settings, so Flower never starts
without authentication.
"""

import os

from django.conf import settings
from flower.views.monitor import Healthcheck, Metrics
from tornado.web import RequestHandler, authenticated

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

basic_auth = [":".join(settings.FLOWER_BASIC_AUTH)]
address = settings.BIND_HOST
port = settings.FLOWER_PORT
# Flower keeps every task it has seen in memory (100,000 by default, ~440 MB measured).
max_tasks = 10_000
purge_offline_workers = 300

# Flower 2.2 serves its Prometheus metrics and health check without asking for credentials,
# although every other page and API call asks; they tell anyone who can reach the port the
# names of the workers and tasks. Here they ask too (tornado's `authenticated` calls Flower's
# own check, which answers 401 with a Basic challenge). FLOWER_OPEN_HEALTHCHECK opens the
# health check, which only says "OK", for a probe that has no credentials.
for _handler in (Metrics,) if settings.FLOWER_OPEN_HEALTHCHECK else (Metrics, Healthcheck):
    _handler.get = authenticated(_handler.get)

_tornado_clear = RequestHandler.clear


def _clear_with_our_headers(self) -> None:
    """Every response (pages, API, static files, errors): no Server header naming Tornado and
    its version, and no framing by another site (clickjacking)."""
    _tornado_clear(self)
    self.clear_header("Server")
    self.set_header("X-Frame-Options", "DENY")
    self.set_header("Content-Security-Policy", "frame-ancestors 'none'")


RequestHandler.clear = _clear_with_our_headers

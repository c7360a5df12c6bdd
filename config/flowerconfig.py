"""Flower's options, read by `celery flower --conf=config/flowerconfig.py` (see bin/flower).

Flower reads the module-level names that match its options. Values come from the same
environment variables and validation as the Django settings, so Flower never starts
without authentication.
"""

import os

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

basic_auth = [":".join(settings.FLOWER_BASIC_AUTH)]
address = settings.BIND_HOST
port = settings.FLOWER_PORT
# Flower keeps every task it has seen in memory (100,000 by default, ~440 MB measured).
max_tasks = 10_000
purge_offline_workers = 300

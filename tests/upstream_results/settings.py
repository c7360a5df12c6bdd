"""Settings for django-celery-results' own test suite (scripts/upstream-results-suite.sh): the
suite's own project settings, with its three database aliases on this project's PostgreSQL."""

import dj_database_url
from t.proj.settings import *  # noqa: F403 (the suite's own settings, as it runs them)

from config.env import env_str

_database = dj_database_url.parse(env_str("DATABASE_URL"))  # the PostgreSQL that make test runs
DATABASES = {
    # The suite's test database, apart from the project's own (test_jobs).
    "default": {**_database, "TEST": {"NAME": "test_upstream_results"}},
    # The suite's two other aliases are mirrors of the default in its tests, as in its settings.
    "secondary": {**_database, "TEST": {"MIRROR": "default"}},
    "read-only": {
        **_database,
        "OPTIONS": {"options": "-c default_transaction_read_only=on"},
        "TEST": {"MIRROR": "default"},
    },
}

"""Whether the services this process depends on answer, each within CHECK_TIMEOUT_S."""

from celery import current_app
from django.db import connection, transaction

from common.redis_clients import cache_redis, redis_client

# A probe has a timeout of its own (Kubernetes: 1 s by default, ours 5 s): a dependency that
# takes longer than this is as good as down for the requests this process would take.
CHECK_TIMEOUT_S = 2


def database_check() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = %s", [CHECK_TIMEOUT_S * 1000])
        cursor.execute("SELECT 1")


def redis_check() -> None:
    """The Redis of the job events and the locks, then the cache's (the same server by default)."""
    redis_client().ping()
    cache_redis().ping()


def broker_check() -> None:
    """A new connection each time: a pooled one could look open after the broker has gone."""
    with current_app.connection_for_write(connect_timeout=CHECK_TIMEOUT_S) as broker:
        broker.ensure_connection(max_retries=0, timeout=CHECK_TIMEOUT_S)


DEPENDENCY_CHECKS = {"database": database_check, "redis": redis_check, "broker": broker_check}


def dependencies_failing() -> dict[str, str]:
    """Each dependency that did not answer, with why (the exception's class and message)."""
    failing = {}
    for name, check in DEPENDENCY_CHECKS.items():
        try:
            check()
        except Exception as error:  # whatever a driver raises, the probe reports it
            failing[name] = f"{type(error).__name__}: {error}"[:300]
    return failing

"""A pytest plugin for django-celery-results' own test suite (scripts/upstream-results-suite.sh):
the suite runs against this project's result store instead of the stock one.

jobs.results.UpsertDatabaseBackend is the stock DatabaseBackend with one change, its TaskModel,
whose manager stores each state in one upsert. The suite builds DatabaseBackend itself, so the
stock class gets that TaskModel here, before the suite's modules are imported.
"""

_stores = 0


def pytest_configure(config):
    # Imported here: pytest loads this plugin before pytest-django has set Django up.
    from django_celery_results.backends.database import DatabaseBackend

    from jobs.results import UpsertDatabaseBackend, UpsertTaskResultManager

    DatabaseBackend.TaskModel = UpsertDatabaseBackend.TaskModel
    original = UpsertTaskResultManager.store_result

    def counted(self, *args, **kwargs):
        global _stores
        _stores += 1
        return original(self, *args, **kwargs)

    # Counted, to prove at the end that the suite's stores went through the project's manager.
    UpsertTaskResultManager.store_result = counted


def pytest_collection_modifyitems(items):
    """Upstream's test-only fix 067dfc9 (after 2.6.0), for Celery 5.7: the request helper of
    test_database.py gives a protocol-1 message the ignore_result header, which Celery 5.7's
    Request otherwise reads from the task, here a bare name (AttributeError in the helper, with
    the stock store too). https://github.com/celery/django-celery-results/commit/067dfc9
    A suite that already carries the fix is unchanged by it (setdefault), and one whose helper
    no longer builds protocol-1 messages this way is left alone."""
    modules = {item.module for item in items if item.module.__name__.endswith("backends.test_database")}
    for module in modules:
        if not hasattr(module, "hybrid_to_proto2"):
            continue
        to_proto2 = module.hybrid_to_proto2

        def with_ignore_result(message, body, *, to_proto2=to_proto2):
            body, headers, decoded, utc = to_proto2(message, body)
            headers.setdefault("ignore_result", False)
            return body, headers, decoded, utc

        module.hybrid_to_proto2 = with_ignore_result


def pytest_sessionfinish(session, exitstatus):
    if _stores == 0 and exitstatus == 0:
        session.exitstatus = 1
    print(f"\nThe project's result store took {_stores} stores from django-celery-results' suite.")

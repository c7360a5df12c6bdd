"""django-celery-results' database backend, storing each task state in one statement.

The stock manager does get_or_create and then a full-row UPDATE: three or four round trips
per state on the worker's hottest path. An INSERT ... ON CONFLICT DO UPDATE does the same
in one, and is also safe when two processes store the same task id at once.

A job's finish goes one step further: `task_result_captured()` lets Celery's backend build the
row exactly as it would store it (encoding, extended fields, meta), and the finish writes it in
the same statement as the job's terminal status (jobs/services/finish.py).
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection, connections, router
from django.utils import timezone
from django_celery_results.backends.database import DatabaseBackend
from django_celery_results.managers import TaskResultManager
from django_celery_results.models import TaskResult

_STORED_FIELDS = [
    "status",
    "result",
    "traceback",
    "meta",
    "content_encoding",
    "content_type",
    "periodic_task_name",
    "task_name",
    "task_args",
    "task_kwargs",
    "worker",
]
_captured: ContextVar[list | None] = ContextVar("captured_task_results", default=None)


@contextmanager
def task_result_captured():
    """Within this block, storing a result builds its TaskResult row and hands it over (the
    yielded list) instead of writing it."""
    rows: list[TaskResult] = []
    token = _captured.set(rows)
    try:
        yield rows
    finally:
        _captured.reset(token)


def task_result_upsert_sql(row: TaskResult, *, only_if: str) -> tuple[str, list]:
    """SQL and params that store `row` (insert, or update the same task id's row), for a data-
    modifying CTE: the row is written only when the CTE named `only_if` returned a row."""
    columns, values = _columns_and_values(row)
    return _upsert_sql(columns, ["%s"] * len(values), f"FROM {only_if}"), values


def task_results_store_alike(row: TaskResult, *, per_task: dict[str, list]) -> None:
    """Store `row`'s outcome once for each task, in one statement: the REVOKED rows of a bulk
    cancel share their outcome, and building a thousand rows cost more than the write.

    `per_task` holds the columns that differ, one list each in the same order: `task_id`, and
    whichever of the others (`task_name`, `task_args`, `task_kwargs`, `worker`, `date_started`) each task
    has its own of.
    """
    columns, values = _columns_and_values(row)
    own = [column for column in columns if column.name in per_task]
    selected = [f"own.{column.column}" if column in own else "%s" for column in columns]
    shared = [value for column, value in zip(columns, values, strict=True) if column not in own]
    arrays = ", ".join(f"%s::{column.db_type(connection)}[]" for column in own)
    source = f"FROM unnest({arrays}) AS own({', '.join(column.column for column in own)})"
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(columns, selected, source), [*shared, *(per_task[c.name] for c in own)])


def _columns_and_values(row: TaskResult, db=connection) -> tuple[list, list]:
    columns = [field for field in TaskResult._meta.concrete_fields if not field.primary_key]
    return columns, [field.get_db_prep_save(field.pre_save(row, add=True), db) for field in columns]


def _upsert_sql(columns: list, selected: list[str], source: str) -> str:
    quote = connection.ops.quote_name
    updates = [f"{name} = EXCLUDED.{name}" for name in map(quote, [*_STORED_FIELDS, "date_done"])]
    # As the stock manager does: a state that does not say when the task started (SUCCESS after
    # STARTED) keeps the date_started that the row has.
    started = quote("date_started")
    updates.append(f"{started} = COALESCE(EXCLUDED.{started}, {TaskResult._meta.db_table}.{started})")
    return (
        f"INSERT INTO {TaskResult._meta.db_table} ({', '.join(quote(field.column) for field in columns)}) "
        f"SELECT {', '.join(selected)} {source} ON CONFLICT (task_id) DO UPDATE SET {', '.join(updates)}"
    )


class UpsertTaskResultManager(TaskResultManager):
    def store_result(self, content_type, content_encoding, task_id, result, status, using=None, **fields):
        # django-celery-results passes date_started (as Now()) with the STARTED state only.
        started = timezone.now() if "date_started" in fields else None
        fields = {name: fields.get(name) for name in _STORED_FIELDS if name not in {"status", "result"}}
        fields.update(
            status=status,
            result=result,
            content_type=content_type,
            content_encoding=content_encoding,
            date_started=started,
        )
        row = TaskResult(task_id=task_id, **fields)
        captured = _captured.get()
        if captured is not None:
            captured.append(row)
            return row
        task_result_store(row, using=using)
        return row


def task_result_store(row: TaskResult, *, using=None) -> None:
    """Insert the row, or update the row of the same task id, in one statement.

    Raw SQL rather than bulk_create(update_conflicts=True), which cannot keep date_started;
    TaskResult's pre_save and post_save signals are not sent, as with bulk_create.
    """
    db = connections[using or router.db_for_write(TaskResult)]
    columns, values = _columns_and_values(row, db)
    with db.cursor() as cursor:
        cursor.execute(_upsert_sql(columns, ["%s"] * len(values), ""), values)


class _UpsertingTaskModel:
    """Stands in for TaskResult where the parent backend reads and writes rows."""

    _default_manager = UpsertTaskResultManager()
    _default_manager.model = TaskResult
    DoesNotExist = TaskResult.DoesNotExist


class UpsertDatabaseBackend(DatabaseBackend):
    """Set as CELERY_RESULT_BACKEND; rows and reads are exactly those of "django-db"."""

    TaskModel = _UpsertingTaskModel

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

from django.db import connection
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


def task_results_store_alike(row: TaskResult, *, task_ids: list[str]) -> None:
    """Store `row`'s outcome for each of the task ids, in one statement: the REVOKED rows of a
    bulk cancel differ only in their id, and building a thousand rows cost more than the write."""
    columns, values = _columns_and_values(row)
    selected = ["ids.task_id" if column.name == "task_id" else "%s" for column in columns]
    params = [value for column, value in zip(columns, values, strict=True) if column.name != "task_id"]
    sql = _upsert_sql(columns, selected, "FROM unnest(%s::text[]) AS ids(task_id)")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, task_ids])


def _columns_and_values(row: TaskResult) -> tuple[list, list]:
    columns = [field for field in TaskResult._meta.concrete_fields if not field.primary_key]
    return columns, [field.get_db_prep_save(field.pre_save(row, add=True), connection) for field in columns]


def _upsert_sql(columns: list, selected: list[str], source: str) -> str:
    quote = connection.ops.quote_name
    updates = ", ".join(
        f"{name} = EXCLUDED.{name}" for name in (quote(column) for column in [*_STORED_FIELDS, "date_done"])
    )
    return (
        f"INSERT INTO {TaskResult._meta.db_table} ({', '.join(quote(field.column) for field in columns)}) "
        f"SELECT {', '.join(selected)} {source} ON CONFLICT (task_id) DO UPDATE SET {updates}"
    )


class UpsertTaskResultManager(TaskResultManager):
    def store_result(self, content_type, content_encoding, task_id, result, status, using=None, **fields):
        fields = {name: fields.get(name) for name in _STORED_FIELDS if name not in {"status", "result"}}
        fields.update(
            status=status, result=result, content_type=content_type, content_encoding=content_encoding
        )
        row = TaskResult(task_id=task_id, **fields)
        captured = _captured.get()
        if captured is not None:
            captured.append(row)
            return row
        task_results_store([row], using=using)
        return row


def task_results_store(rows: list[TaskResult], *, using=None) -> None:
    """Insert the rows, or update the rows of the same task ids, in one statement."""
    if rows:
        TaskResult.objects.using(using).bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["task_id"],
            update_fields=[*_STORED_FIELDS, "date_done"],
        )


class _UpsertingTaskModel:
    """Stands in for TaskResult where the parent backend reads and writes rows."""

    _default_manager = UpsertTaskResultManager()
    _default_manager.model = TaskResult
    DoesNotExist = TaskResult.DoesNotExist


class UpsertDatabaseBackend(DatabaseBackend):
    """Set as CELERY_RESULT_BACKEND; rows and reads are exactly those of "django-db"."""

    TaskModel = _UpsertingTaskModel

"""django-celery-results' database backend, storing each task state in one statement.

The stock manager does get_or_create and then a full-row UPDATE: three or four round trips
per state on the worker's hottest path. An INSERT ... ON CONFLICT DO UPDATE does the same
in one, and is also safe when two processes store the same task id at once.
"""

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


class UpsertTaskResultManager(TaskResultManager):
    def store_result(self, content_type, content_encoding, task_id, result, status, using=None, **fields):
        fields = {name: fields.get(name) for name in _STORED_FIELDS if name not in {"status", "result"}}
        fields.update(
            status=status, result=result, content_type=content_type, content_encoding=content_encoding
        )
        update_fields = [*_STORED_FIELDS, "date_done"]
        if "date_started" in fields:
            update_fields.append("date_started")
        row = TaskResult(task_id=task_id, **fields)
        self.using(using).bulk_create(
            [row], update_conflicts=True, unique_fields=["task_id"], update_fields=update_fields
        )
        return row


class _UpsertingTaskModel:
    """Stands in for TaskResult where the parent backend reads and writes rows."""

    _default_manager = UpsertTaskResultManager()
    _default_manager.model = TaskResult
    DoesNotExist = TaskResult.DoesNotExist


class UpsertDatabaseBackend(DatabaseBackend):
    """Set as CELERY_RESULT_BACKEND; rows and reads are exactly those of "django-db"."""

    TaskModel = _UpsertingTaskModel

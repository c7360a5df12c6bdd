"""The LOGGING dict the settings use, and its filters."""

import logging

# Tasks that run every second or so: their routine INFO lines would bury everything else.
QUIET_TASKS = ("jobs.dispatch_due", "jobs.reconcile", "webhooks.reconcile")


class QuietRoutineTasks(logging.Filter):
    """Drop INFO-and-below records about the routine periodic tasks; warnings and errors pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        message = record.getMessage()
        return not any(task in message for task in QUIET_TASKS)


class NoEmptyTraceback(logging.Filter):
    """Drop the exception of a record logged with logger.exception() outside an except block,
    which would print as "NoneType: None": django-tasks logs every FAILED task that way, a
    cancelled one included, which no exception ended."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info == (None, None, None):
            record.exc_info = None
        return True


def logging_settings(*, log_format: str, level: str) -> dict:
    """Django's LOGGING: one console handler, in LOG_FORMAT (text, or json: ops/logformat.py)."""
    settings = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "json": {"()": "ops.logformat.JsonFormatter"},
        },
        "filters": {
            "quiet_routine_tasks": {"()": QuietRoutineTasks},
            "no_empty_traceback": {"()": NoEmptyTraceback},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["quiet_routine_tasks", "no_empty_traceback"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # Django gives these a console handler of its own (bare messages); ours prints them, in
        # LOG_FORMAT.
        "loggers": {name: {"handlers": [], "propagate": True} for name in ("django", "py.warnings")},
    }
    if log_format == "json":
        # uvicorn's own loggers have handlers of their own, in its text format, and do not propagate.
        settings["loggers"] |= {
            name: {"handlers": ["console"], "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        }
    return settings

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

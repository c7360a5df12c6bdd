"""Logs as one JSON object per line (LOG_FORMAT=json), each with the job or request it belongs to.

Imports nothing of Django's or Celery's: uvicorn's own logging config (config/uvicorn-logging-
json.json, for the lines it writes before the app is loaded) names the formatter here too.
"""

import contextvars
import json
import logging
import logging.config
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

# What the current job or request adds to every line: job_id, job_type, attempt; request_id.
_fields: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_fields", default=None)


@contextmanager
def log_context(**fields) -> Iterator[None]:
    """Every line logged inside carries `fields` (in the JSON format), in this thread or task."""
    token = _fields.set({**(_fields.get() or {}), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


def _entry(*, created: float, level: str, logger: str, message: str) -> dict:
    return {
        "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "message": message,
        **(_fields.get() or {}),
    }


def log_field(name: str):
    """A field of the current log context, or None."""
    return (_fields.get() or {}).get(name)


class JsonFormatter(logging.Formatter):
    """time (UTC, ISO 8601), level, logger, message, the context's fields, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(
            created=record.created, level=record.levelname, logger=record.name, message=record.getMessage()
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def logging_configure(logging_settings: dict) -> None:
    """Django's LOGGING_CONFIG: settings.LOGGING, then Python's warnings as log records, so that
    they too come out in LOG_FORMAT rather than bare on stderr."""
    logging.config.dictConfig(logging_settings)
    logging.captureWarnings(True)


class JsonLines:
    """A text stream that writes each line given to it as a JSON log line, straight to `stream`:
    for what a program prints past logging. No lock is taken, so a signal handler may print."""

    def __init__(self, stream, *, logger: str, level: str = "WARNING"):
        self.stream, self.logger, self.level = stream, logger, level

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                entry = _entry(created=time.time(), level=self.level, logger=self.logger, message=line)
                self.stream.write(json.dumps(entry) + "\n")
        self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

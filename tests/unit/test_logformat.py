"""LOG_FORMAT=json's lines, and the request id, in-process."""

import json
import logging
import sys

from ops.logformat import JsonFormatter, JsonLines, log_context


def record(message="hello %s", args=("world",), exc_info=None):
    return logging.LogRecord("jobs.worker", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_line_is_one_json_object_with_time_level_logger_and_message():
    line = json.loads(JsonFormatter().format(record()))
    assert line.keys() == {"time", "level", "logger", "message"}
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "jobs.worker", "hello world")
    assert line["time"].endswith("+00:00")


def test_a_line_inside_a_log_context_carries_its_fields_and_only_there():
    with log_context(job_id="j-1", job_type="math.add"), log_context(attempt=2):
        inside = json.loads(JsonFormatter().format(record()))
    outside = json.loads(JsonFormatter().format(record()))
    assert (inside["job_id"], inside["job_type"], inside["attempt"]) == ("j-1", "math.add", 2)
    assert "job_id" not in outside


def test_a_traceback_stays_inside_its_line():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        text = JsonFormatter().format(record(exc_info=sys.exc_info()))
    assert "\n" not in text
    assert "ValueError: bad" in json.loads(text)["exception"]


def test_printed_text_becomes_json_lines(capsys):
    stream = JsonLines(sys.stdout, logger="celery.stdout")
    print("\nworker: Warm shutdown (MainProcess)\n", file=stream, flush=True)
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["message"] == "worker: Warm shutdown (MainProcess)"


def test_a_response_carries_the_callers_request_id_or_a_new_one(client):
    assert client.get("/api/", HTTP_X_REQUEST_ID="proxy-7").headers["X-Request-ID"] == "proxy-7"
    made_up = client.get("/api/", HTTP_X_REQUEST_ID="<script>").headers["X-Request-ID"]
    assert made_up != "<script>" and len(made_up) == 32

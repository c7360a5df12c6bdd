"""Reports as CSV: one report as section,key,metric,value rows, and the DRF renderer."""

import csv
import io

from rest_framework.renderers import BaseRenderer

HEADER_FIELDS = ["id", "kind", "window_start", "window_end", "owner", "generated_at", "job"]


def _row(section: str, key, metric: str, value) -> dict:
    return {"section": section, "key": key, "metric": metric, "value": value}


def _per_key(section: str, metrics_by_key: dict) -> list[dict]:
    return [
        _row(section, key, metric, value)
        for key, metrics in metrics_by_key.items()
        for metric, value in metrics.items()
    ]


def report_rows(report: dict) -> list[dict]:
    """Flatten a report as the API shows it (ReportOutput) into {section, key, metric, value} rows."""
    data = report["data"]
    return [
        *[_row("report", "", field, report[field]) for field in HEADER_FIELDS],
        *[_row("selection", jobs, "sections", " ".join(names)) for jobs, names in data["selection"].items()],
        *[_row("totals", "", metric, value) for metric, value in data["totals"].items()],
        *[_row("by_status", status, "count", count) for status, count in data["by_status"].items()],
        *[_row("by_type", type, "count", count) for type, count in data["by_type"].items()],
        *[_row("queue_wait", "", metric, value) for metric, value in data["queue_wait"].items()],
        _row("throughput", "", "bucket_s", data["throughput"]["bucket_s"]),
        *[
            _row("throughput", bucket["start"], outcome, bucket[outcome])
            for bucket in data["throughput"]["buckets"]
            for outcome in ("succeeded", "failed", "cancelled")
        ],
        *_per_key("run_time", data["run_time"]),
        *_per_key("failure_rate", data["failure_rate"]),
        *[_row("top_errors", error["type"], "count", error["count"]) for error in data["top_errors"]],
        *[
            _row("slowest", job["id"], metric, job[metric])
            for job in data["slowest"]
            for metric in ("type", "duration_s")
        ],
    ]


class CSVRenderer(BaseRenderer):
    """A list of flat dicts as CSV with the first one's keys as the header; a dict is one row
    (that is how errors such as a 404 arrive)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        rows = data if isinstance(data, list) else [data]
        if not rows:
            return ""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: formula_neutralised(value) for key, value in row.items()} for row in rows)
        return out.getvalue()


# A spreadsheet reads a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_neutralised(value):
    """A text cell that a spreadsheet would evaluate (a username such as `-2+3`, a job type, an
    error's name), with a leading ' as OWASP advises, so that it shows as the text it is.
    Numbers stay numbers: -3 is not text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value

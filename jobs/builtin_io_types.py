"""Job types that touch data and the outside world: data.process, email.send, http.fetch."""

import hashlib
import json
import smtplib

from django.core.mail import send_mail
from rest_framework import serializers

from common import netguard
from jobs.types import job_type

DATA_MAX_BYTES = 1_000_000  # of the data as compact JSON
EMAIL_MAX_RECIPIENTS = 50
FETCH_TIMEOUT_S = 10
FETCH_MAX_BYTES = 10 * 1024 * 1024
JSON_TYPES = ("object", "array", "string", "number", "boolean", "null")


def _max_json_size(value):
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > DATA_MAX_BYTES:
        raise serializers.ValidationError(f"The data is {size} bytes as JSON; the limit is {DATA_MAX_BYTES}.")


class ProcessParams(serializers.Serializer):
    data = serializers.DictField(validators=[_max_json_size], help_text="Any JSON object.")


class EmailListField(serializers.ListField):
    """One address, or a list of them."""

    child = serializers.EmailField()

    def to_internal_value(self, data):
        return super().to_internal_value([data] if isinstance(data, str) else data)


def _single_line(value):
    # A line break in a header would let the text add headers of its own.
    if "\n" in value or "\r" in value:
        raise serializers.ValidationError("The subject must be a single line.")


class EmailParams(serializers.Serializer):
    to = EmailListField(min_length=1, max_length=EMAIL_MAX_RECIPIENTS, help_text="An address or a list.")
    subject = serializers.CharField(max_length=200, validators=[_single_line])
    body = serializers.CharField(max_length=100_000, trim_whitespace=False)


class FetchParams(serializers.Serializer):
    url = serializers.URLField(max_length=2000, validators=[netguard.validate_outbound_url])


@job_type("data.process", params=ProcessParams)
def process(ctx, *, data):
    """Summarize a JSON object: its keys, how many values of each JSON type it holds, and for every
    numeric field (a path like `rows[].price`) the count, min, max, mean and sum."""
    types = dict.fromkeys(JSON_TYPES, 0)
    numbers: dict[str, list] = {}
    # A stack, not recursion: the depth of the data is the submitter's choice.
    stack = list(data.items())
    while stack:
        path, value = stack.pop()
        types[_json_type(value)] += 1
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}", child) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[]", child) for child in value)
        elif _json_type(value) == "number":
            numbers.setdefault(path, []).append(value)
    return {
        "keys": list(data),
        "key_count": len(data),
        "types": types,
        "numbers": {
            path: {
                "count": len(values),
                "min": min(values),
                "max": max(values),
                "mean": sum(values) / len(values),
                "sum": sum(values),
            }
            for path, values in sorted(numbers.items())
        },
    }


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: True is an int in Python
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


@job_type(
    "email.send",
    params=EmailParams,
    retry_on=(smtplib.SMTPException, ConnectionError, TimeoutError),
    max_retries=3,
)
def send_email(ctx, *, to, subject, body):
    """Send one plain-text email to every address in `to`, from DEFAULT_FROM_EMAIL."""
    sent = send_mail(subject, body, from_email=None, recipient_list=to, fail_silently=False)
    return {"sent": sent, "to": to}


@job_type("http.fetch", params=FetchParams, retry_on=(ConnectionError, TimeoutError), max_retries=2)
def http_fetch(ctx, *, url):
    """GET a public http(s) URL (10 s, 10 MB at most, up to 3 redirects) and describe the response.

    Private, loopback, link-local and metadata addresses are refused, at every redirect too:
    the job fails with UnsafeURL.
    """
    response = netguard.fetch(url, timeout=FETCH_TIMEOUT_S, max_bytes=FETCH_MAX_BYTES)
    return {
        "status_code": response.status,
        "content_type": response.headers.get("Content-Type", ""),
        "size": len(response.body),
        "sha256": hashlib.sha256(response.body).hexdigest(),
        "final_url": response.url,
    }

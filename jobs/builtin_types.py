"""The job types every installation has, after the examples in the Celery tutorials."""

import time

from rest_framework import serializers

from jobs.exceptions import JobCancelled
from jobs.fields import NumberField, TakesPreviousResult
from jobs.types import job_type


class TextParams(TakesPreviousResult, serializers.Serializer):
    previous_fills = "text"
    text = serializers.CharField(max_length=100_000, trim_whitespace=False, allow_blank=True)


class TwoNumbersParams(TakesPreviousResult, serializers.Serializer):
    previous_fills = "x"
    x = NumberField(help_text="In a workflow, defaults to the previous step's result.")
    y = NumberField()


class CountdownParams(serializers.Serializer):
    word = serializers.CharField(max_length=200)
    steps = serializers.IntegerField(min_value=1, max_value=100, default=10)
    delay_s = serializers.FloatField(min_value=0.0, max_value=10.0, default=1.0)


@job_type("text.uppercase", params=TextParams)
def uppercase(ctx, *, text):
    """Return the text in upper case."""
    return text.upper()


@job_type("math.add", params=TwoNumbersParams)
def add(ctx, *, x, y):
    """Return x + y."""
    return x + y


@job_type("math.divide", params=TwoNumbersParams)
def divide(ctx, *, x, y):
    """Return x / y. Dividing by zero fails the job with ZeroDivisionError."""
    return x / y


@job_type("demo.countdown", params=CountdownParams, queue="long", cooperative_cancel=True)
def countdown(ctx, *, word, steps, delay_s):
    """Count `steps` steps of `delay_s` seconds each, reporting progress, then return the word.

    Runs on the `long` queue and stops cleanly between steps when cancelled.
    """
    ctx.progress(0, steps, "starting")
    for step in range(1, steps + 1):
        time.sleep(delay_s)
        if ctx.cancelled:
            raise JobCancelled
        ctx.progress(step, steps, f"step {step} of {steps}")
    return word

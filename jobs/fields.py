import math
from numbers import Real

from rest_framework import serializers


class NumberField(serializers.Field):
    """A JSON number: ints stay ints (2 + 3 is 5, not 5.0); booleans, NaN and infinities are refused."""

    default_error_messages = {
        "invalid": "A valid number is required.",
        "not_finite": "The number must be finite.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str):
            data = self._parse(data.strip())
        if not isinstance(data, Real):
            self.fail("invalid")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("not_finite")
        return data

    def _parse(self, text: str) -> int | float:
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value):
        return value

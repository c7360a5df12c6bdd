import math
from numbers import Real

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(OpenApiTypes.NUMBER)
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


class TakesPreviousResult:
    """Mixin for params of a type that can follow another step in a workflow.

    A later step receives the previous step's result as `previous`, which stands in for
    the param named by `previous_fills` when that param is not given. At submit time the
    result does not exist yet, so the serializer's context says `previous_pending`.
    """

    previous_fills: str

    def get_fields(self):
        fields = super().get_fields()
        fields[self.previous_fills].required = False
        fields["previous"] = serializers.JSONField(
            required=False, help_text="Set by a workflow: the previous step's result."
        )
        return fields

    def validate(self, attrs):
        attrs = super().validate(attrs)
        has_previous = "previous" in attrs
        previous = attrs.pop("previous", None)
        if self.previous_fills in attrs:
            return attrs
        if has_previous:
            try:
                attrs[self.previous_fills] = self.fields[self.previous_fills].run_validation(previous)
            except serializers.ValidationError as error:
                raise serializers.ValidationError({"previous": error.detail}) from None
        elif not self.context.get("previous_pending"):
            raise serializers.ValidationError({self.previous_fills: ["This field is required."]})
        return attrs

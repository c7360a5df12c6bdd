"""JSON Schema for a job type's params serializer, so clients can see how to submit each type."""

from rest_framework import serializers
from rest_framework.fields import empty

from jobs.fields import NumberField

# Most specific first: EmailField is a CharField, FloatField is not an IntegerField.
_FIELD_TYPES: list[tuple[type[serializers.Field], dict]] = [
    (serializers.BooleanField, {"type": "boolean"}),
    (serializers.EmailField, {"type": "string", "format": "email"}),
    (serializers.URLField, {"type": "string", "format": "uri"}),
    (serializers.ChoiceField, {}),
    (serializers.CharField, {"type": "string"}),
    (serializers.IntegerField, {"type": "integer"}),
    (serializers.FloatField, {"type": "number"}),
    (serializers.DecimalField, {"type": "number"}),
    (NumberField, {"type": "number"}),
    (serializers.DateTimeField, {"type": "string", "format": "date-time"}),
    (serializers.DictField, {"type": "object"}),
    (serializers.ListField, {"type": "array"}),
    (serializers.JSONField, {}),
]

_BOUNDS = {
    "max_length": "maxLength",
    "min_length": "minLength",
    "max_value": "maximum",
    "min_value": "minimum",
}
# A list's length bounds have their own JSON Schema keywords.
_LIST_BOUNDS = {**_BOUNDS, "max_length": "maxItems", "min_length": "minItems"}


def params_json_schema(serializer_class: type[serializers.Serializer]) -> dict:
    fields = serializer_class().fields
    schema = {
        "type": "object",
        "properties": {name: _field_schema(field) for name, field in fields.items()},
        "required": [name for name, field in fields.items() if field.required],
        "additionalProperties": False,
    }
    fills = getattr(serializer_class, "previous_fills", None)
    if fills:  # see jobs.fields.TakesPreviousResult
        schema["anyOf"] = [{"required": [fills]}, {"required": ["previous"]}]
    return schema


def _field_schema(field: serializers.Field) -> dict:
    if isinstance(field, serializers.Serializer):
        return params_json_schema(type(field))
    schema = next((dict(s) for cls, s in _FIELD_TYPES if isinstance(field, cls)), {})
    if isinstance(field, serializers.ChoiceField):
        schema["enum"] = list(field.choices)
    if isinstance(field, serializers.ListField):
        schema["items"] = _field_schema(field.child)
    bounds = _LIST_BOUNDS if isinstance(field, serializers.ListField) else _BOUNDS
    for attr, keyword in bounds.items():
        value = getattr(field, attr, None)
        if value is not None:
            schema[keyword] = value
    if field.default is not empty and not callable(field.default):
        schema["default"] = field.default
    if field.help_text:
        schema["description"] = str(field.help_text)
    return schema

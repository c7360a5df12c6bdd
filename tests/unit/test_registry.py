import pytest
from rest_framework import serializers

from jobs.api.schema import params_json_schema
from jobs.builtin_types import CountdownParams, TwoNumbersParams
from jobs.fields import NumberField
from jobs.registry import job_type_get, job_type_names
from jobs.types import job_type


def test_it_registers_the_builtin_types():
    assert {"text.uppercase", "math.add", "math.divide", "demo.countdown"} <= set(job_type_names())
    assert job_type_get("math.add").description == "Return x + y."


def test_it_refuses_to_register_a_second_function_under_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):

        @job_type("math.add", params=TwoNumbersParams)
        def impostor(ctx, *, x, y):
            return x - y


def test_it_describes_params_as_json_schema_with_bounds_and_defaults():
    schema = params_json_schema(CountdownParams)
    assert schema["required"] == ["word"]
    assert schema["properties"]["steps"] == {"type": "integer", "maximum": 100, "minimum": 1, "default": 10}
    assert schema["properties"]["delay_s"]["default"] == 1.0
    assert schema["properties"]["word"] == {"type": "string", "maxLength": 200}


@pytest.mark.parametrize(("given", "expected"), [(2, 2), (2.5, 2.5), ("3", 3), ("-1.5", -1.5)])
def test_number_field_keeps_ints_as_ints(given, expected):
    value = NumberField().run_validation(given)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("given", [True, None, "ten", [], float("nan"), float("inf")])
def test_number_field_refuses_non_numbers(given):
    with pytest.raises(serializers.ValidationError):
        NumberField().run_validation(given)

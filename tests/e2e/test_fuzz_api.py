"""Schemathesis against our own OpenAPI schema: no server errors, no response outside the schema.

Requests go over HTTP to the live uvicorn server, as an authenticated user, with a bounded
number of generated examples per operation so `make test` stays quick.
"""

import schemathesis
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

EXAMPLES_PER_OPERATION = 15


def test_the_api_never_errors_and_always_answers_as_documented(transactional_db, web_server, user):
    cache.clear()  # throttling counters from earlier tests
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    # The event stream never ends on its own; it is tested end to end elsewhere.
    schema = schemathesis.openapi.from_url(f"{web_server}/api/schema/?format=json").exclude(
        path_regex="events"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance], timeout=30
            )

        check()

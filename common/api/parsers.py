"""JSON request bodies with a nesting limit.

Python's json module has none: a body nested ten thousand levels deep raised RecursionError in
DRF's parser (a 500), and one nested a thousand deep passed the parser and failed in the
driver's encoding on save. No job needs more than a few levels; JSON_MAX_DEPTH leaves plenty.
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Arrays and objects inside one another, counted from the body itself (a job's params start at 2).
JSON_MAX_DEPTH = 100
TOO_DEEP = f"JSON parse error - the body nests more than {JSON_MAX_DEPTH} levels of arrays and objects."


class DepthLimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if json_depth(data) > JSON_MAX_DEPTH:
            raise ParseError(TOO_DEEP)
        return data


def json_depth(value) -> int:
    """How many arrays and objects are nested in `value` at its deepest (0 for a scalar), counted
    without recursion, and stopping once past the limit."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > JSON_MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest

"""What a service raises for the API to answer with a status code (common/api/errors.py)."""


class Conflict(Exception):
    """The request does not fit the current state of what it names: 409."""


class TooManyRequests(Exception):
    """The caller has more work in hand than allowed; retry later: 429 with Retry-After."""

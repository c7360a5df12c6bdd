"""A request id on every web log line and on the response (`X-Request-ID`): the caller's, if it
sent a plausible one (a proxy's), else a new one. The ASGI handler (config/asgi.py) sets it for
the whole request, so the server's access line and Django's own request logs carry it too; the
middleware puts it on the response, and sets it itself where no such handler ran (WSGI, tests)."""

import re
import uuid

from ops.logformat import log_context, log_field

HEADER = "X-Request-ID"
_PLAUSIBLE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_from(sent: str) -> str:
    return sent if _PLAUSIBLE.fullmatch(sent) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = log_field("request_id") or request_id_from(request.headers.get(HEADER, ""))
        with log_context(request_id=request_id):
            response = self.get_response(request)
        response[HEADER] = request_id
        return response

"""Request bodies sent with Transfer-Encoding: chunked, which carry no Content-Length.

Django and DRF size a body by its Content-Length, and read a body without one as empty: a valid
job sent chunked was refused as missing its `type`, and a 6 MB chunked body was not refused as
too large. Under ASGI (bin/web) the server has already received the whole body; this reads it up
to DATA_UPLOAD_MAX_MEMORY_SIZE (413 beyond) and gives the request its Content-Length. A server
that hands over no body without one (WSGI) answers 411 instead.
"""

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, JsonResponse

from common.api.errors import TOO_LARGE

LENGTH_REQUIRED = {"detail": "A chunked request body is not accepted here; send it with a Content-Length."}


class ChunkedBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked or request.META.get("CONTENT_LENGTH"):
            return self.get_response(request)
        if not isinstance(request, ASGIRequest):
            return _answer(request, LENGTH_REQUIRED, status=411)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = request.read(limit + 1)
        if len(body) > limit:
            return _answer(request, TOO_LARGE, status=413)
        # What HttpRequest.body keeps once read; DRF and Django's form parsing read it from there.
        request._body = body
        request.META["CONTENT_LENGTH"] = str(len(body))
        return self.get_response(request)


def _answer(request, detail: dict, *, status: int) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(detail, status=status)
    return HttpResponse(detail["detail"], status=status, content_type="text/plain; charset=utf-8")

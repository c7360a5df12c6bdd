import logging

from django.http import JsonResponse
from django.views import defaults
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from jobs.exceptions import JobConflict

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    """DRF's handler, plus 409 for state conflicts and a JSON 500 for anything unexpected."""
    if isinstance(exc, JobConflict):
        return Response({"detail": str(exc)}, status=409)
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
    return Response({"detail": "Internal server error."}, status=500)


# Outside DRF views (an unknown /api/ path, a crash in middleware) Django answers; under
# /api/ it answers in JSON like the views do, elsewhere with its usual pages.


def not_found(request, exception):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return defaults.server_error(request)

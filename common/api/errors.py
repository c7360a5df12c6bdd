import logging
import sys

import redis
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, InterfaceError, OperationalError
from django.http import JsonResponse
from django.views import defaults
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.exceptions import Conflict, TooManyRequests

logger = logging.getLogger(__name__)

# A database or Redis outage is temporary: say so, and when to try again, instead of a 500.
OUTAGES = (OperationalError, InterfaceError, redis.RedisError)
RETRY_AFTER_S = 10
UNAVAILABLE = {"detail": "The service is briefly unavailable; please retry shortly."}
TOO_LARGE = {"detail": "The request body is too large."}


def exception_handler(exc, context):
    """DRF's handler, plus 409 for state conflicts, 413 for oversized bodies, 400 for Django's
    own ValidationError, 503 for outages, and a JSON 500 for anything unexpected: never an HTML
    page or a traceback."""
    if isinstance(exc, Conflict):
        return Response({"detail": str(exc)}, status=409)
    if isinstance(exc, TooManyRequests):
        return Response({"detail": str(exc)}, status=429, headers={"Retry-After": str(RETRY_AFTER_S)})
    if isinstance(exc, RequestDataTooBig):
        return Response(TOO_LARGE, status=413)
    if isinstance(exc, DataError):  # e.g. a value jsonb refuses: the request's fault, not an outage
        return Response({"detail": "The request holds data that cannot be stored."}, status=400)
    if isinstance(exc, DjangoValidationError):  # a model field's to_python, reached by a query parameter
        return Response({"detail": exc.messages}, status=400)
    if isinstance(exc, OUTAGES):
        logger.warning("outage answered with 503: %r", exc)
        return Response(UNAVAILABLE, status=503, headers={"Retry-After": str(RETRY_AFTER_S)})
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
    exc = sys.exc_info()[1]
    if request.path.startswith("/api/"):
        if isinstance(exc, OUTAGES):
            response = JsonResponse(UNAVAILABLE, status=503)
            response["Retry-After"] = str(RETRY_AFTER_S)
            return response
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return defaults.server_error(request)

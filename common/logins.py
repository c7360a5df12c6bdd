"""Logins under django-axes (settings, "Logins"): the answer to a locked-out login, the same for
the admin's login, the browsable API's and the token endpoint."""

import math
from datetime import timedelta

from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

LOCKED_OUT = "Too many failed logins from this address or for this username; try again in {seconds} s."


def client_address(request) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the address uvicorn gives the request, which is the forwarded
    one only from TRUSTED_PROXIES. Set, so that axes never reads X-Forwarded-For itself, as it
    would through django-ipware if that were ever installed."""
    return request.META.get("REMOTE_ADDR")


def lockout_retry_after_s(request, credentials=None) -> int:
    """Seconds until the lockout ends: the last failure that counted for the address or the
    username, plus LOGIN_COOLOFF_S (failures during a lockout do not count)."""
    who = Q(ip_address=request.axes_ip_address)
    if username := get_client_username(request, credentials):
        who |= Q(username=username)
    last = AccessAttempt.objects.filter(who).aggregate(last=Max("attempt_time"))["last"]
    cool_off = timedelta(seconds=settings.LOGIN_COOLOFF_S)
    if last is None:
        return settings.LOGIN_COOLOFF_S
    return max(1, math.ceil((last + cool_off - timezone.now()).total_seconds()))


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After; JSON for the API, text for the login pages."""
    seconds = lockout_retry_after_s(request, credentials)
    detail = LOCKED_OUT.format(seconds=seconds)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": detail}, status=429)
    else:
        response = HttpResponse(detail, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(seconds)
    return response

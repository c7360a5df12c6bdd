"""Logins under django-axes (settings, "Logins"): the answer to a locked-out login, the same for
the admin's login, the browsable API's and the token endpoint; and the addresses a user has
logged in from, where a lockout of their username does not reach them."""

import hashlib
import logging
import math
from datetime import timedelta

import redis
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db.models import Max, Q
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from common.redis_clients import cache_redis

logger = logging.getLogger(__name__)

LOCKED_OUT = "Too many failed logins from this address or for this username; try again in {seconds} s."


def client_address(request) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the address uvicorn gives the request, which is the forwarded
    one only from TRUSTED_PROXIES. Set, so that axes never reads X-Forwarded-For itself, as it
    would through django-ipware if that were ever installed."""
    return request.META.get("REMOTE_ADDR")


def _known_address_key(username: str, address: str) -> str:
    # Hashed: neither the username nor the address is readable from Redis, and the key stays short.
    return "login-known:" + hashlib.sha256(f"{username}\0{address}".encode()).hexdigest()


def login_address_remember(*, username: str, address: str | None) -> None:
    """After a login with the right password: for LOGIN_KNOWN_ADDRESS_DAYS (from this login on),
    this address is one the user logs in from, where a lockout or throttle of their username,
    which anyone can cause, does not reach them."""
    if not address or not settings.LOGIN_KNOWN_ADDRESS_DAYS:
        return
    try:
        cache_redis().set(
            _known_address_key(username, address), 1, ex=timedelta(days=settings.LOGIN_KNOWN_ADDRESS_DAYS)
        )
    except redis.RedisError as error:  # the login itself succeeded; only the exemption is lost
        logger.warning("Could not remember %s as an address of %r: %r", address, username, error)


def login_address_known(*, username: str, address: str | None) -> bool:
    """Whether `username` logged in with the right password from `address` within the last
    LOGIN_KNOWN_ADDRESS_DAYS. Unknown when Redis cannot say: the username's lockout applies."""
    if not address or not settings.LOGIN_KNOWN_ADDRESS_DAYS:
        return False
    try:
        return bool(cache_redis().exists(_known_address_key(username, address)))
    except redis.RedisError as error:
        logger.warning("Could not tell whether %s is an address of %r: %r", address, username, error)
        return False


def request_from_known_address(request, username: str) -> bool:
    """login_address_known for this request's client, asked of Redis once per request and
    username: axes asks for the lockout parameters up to five times in one login."""
    answers = getattr(request, "_known_login_address", None)
    if answers is None:
        answers = request._known_login_address = {}
    if username not in answers:
        answers[username] = login_address_known(username=username, address=client_address(request))
    return answers[username]


def lockout_parameters(request, credentials=None) -> list[str]:
    """AXES_LOCKOUT_PARAMETERS: failures count per address and per username, except that from
    an address the user has logged in from, only the address's own failures count. So a
    username that someone else locked out by guessing elsewhere still logs in at home."""
    username = get_client_username(request, credentials)
    if username and request_from_known_address(request, username):
        return ["ip_address"]
    return ["ip_address", "username"]


class AddressRememberingBackend(ModelBackend):
    """Django's ModelBackend, which also remembers the address of each login with the right
    password (login_address_remember): the token endpoint's, the admin's and the browsable API's."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and request is not None:
            login_address_remember(username=user.get_username(), address=client_address(request))
        return user


def lockout_retry_after_s(request, credentials=None) -> int:
    """Seconds until the lockout ends: the last failure that counted for the address or the
    username (as lockout_parameters counts them), plus LOGIN_COOLOFF_S (failures during a
    lockout do not count)."""
    who = Q(ip_address=request.axes_ip_address)
    username = get_client_username(request, credentials)
    if username and "username" in lockout_parameters(request, credentials):
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

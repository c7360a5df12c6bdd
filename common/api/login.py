"""The token endpoint (POST /api/auth/token/), guarded like the other logins."""

import hashlib

from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.throttling import SimpleRateThrottle

from common.api.parsers import DepthLimitedJSONParser
from common.api.throttles import FixedWindow
from common.logins import lockout_response, request_from_known_address


class LoginAddressThrottle(FixedWindow, SimpleRateThrottle):
    """Login attempts per client address, whether or not they succeed."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(FixedWindow, SimpleRateThrottle):
    """Login attempts per username, from any address but those the user has logged in from."""

    scope = "login"

    def get_cache_key(self, request, view):
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or not username:
            return None  # the serializer refuses it
        if request_from_known_address(request, username):
            return None  # others' attempts at this username must not keep its owner out
        # Hashed: a username of any length (up to the body's limit) keeps the key short.
        digest = hashlib.sha256(username.lower().encode()).hexdigest()
        return self.cache_format % {"scope": "login-user", "ident": digest}


class TokenLoginView(ObtainAuthToken):
    """DRF's ObtainAuthToken, which turns DRF's throttles off: here it is throttled per address
    and per username (API_THROTTLE_LOGIN), takes JSON only as deep as every endpoint does, and
    answers a username or address that django-axes has locked out with 429 and Retry-After,
    as the admin's login page does."""

    throttle_classes = [LoginAddressThrottle, LoginUsernameThrottle]
    parser_classes = (FormParser, MultiPartParser, DepthLimitedJSONParser)

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            # authenticate() turned the lockout into a failed login; django-axes marked the request.
            if getattr(request, "axes_locked_out", False):
                return lockout_response(request)
            raise

"""Webhook signatures, in Stripe's scheme.

    Webhook-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of f"{t}." + body, keyed with the secret>

Signing the time with the body means a captured request can be neither replayed after the
tolerance nor reused with another body. docs/webhooks.md has the receiver's side.
"""

import hashlib
import hmac
import time

HEADER = "Webhook-Signature"


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The Webhook-Signature value for `body`, timestamped now unless `timestamp` is given."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_digest(secret, t, body)}"


def verify(secret: str, header: str, body: bytes, *, tolerance_s: int = 300) -> bool:
    """True if `header` signs `body` with `secret` and its time is within `tolerance_s` of now."""
    pairs = [item.strip().partition("=") for item in header.split(",")]
    timestamps = [value for key, _, value in pairs if key == "t"]
    # isascii: "²".isdigit() is True, but int("²") raises.
    if len(timestamps) != 1 or not (timestamps[0].isascii() and timestamps[0].isdigit()):
        return False
    t = int(timestamps[0])
    if abs(time.time() - t) > tolerance_s:
        return False
    expected = _digest(secret, t, body)
    # Constant-time comparison, so response timing does not reveal how much of a guess matched.
    # Bytes: compare_digest refuses non-ASCII text, and a hostile header may hold some.
    return any(
        hmac.compare_digest(expected.encode(), value.encode()) for key, _, value in pairs if key == "v1"
    )


def _digest(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()

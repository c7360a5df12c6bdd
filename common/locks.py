"""A small Redis lock: one holder at a time, expiring on its own if the holder dies."""

import secrets
from contextlib import contextmanager

from common.redis_clients import redis_client

# Delete the key only if it still holds our token: never release someone else's lock.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@contextmanager
def redis_lock(name: str, *, ttl_s: float):
    """Yield True if this caller holds `name` for up to `ttl_s` seconds, else False."""
    client = redis_client()
    token = secrets.token_hex(16)
    held = bool(client.set(f"lock:{name}", token, nx=True, px=int(ttl_s * 1000)))
    try:
        yield held
    finally:
        if held:
            client.eval(_RELEASE, 1, f"lock:{name}", token)

"""Beat's scheduler, made safe against a second beat process started by mistake."""

import logging
import secrets

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

from common.redis_clients import redis_client
from jobs.periodic import CodeDefaultEntry
from ops.liveness import touch

logger = logging.getLogger(__name__)

# Take the lock if it is free, or extend it if it is ours; 1 if we hold it afterwards.
_ACQUIRE_OR_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""


class SingleBeatScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler that sends tasks only while it holds a Redis lock.

    A second beat stays on standby, so no periodic task runs twice; if the first beat dies,
    its lock expires after BEAT_LOCK_TTL_S and the standby takes over. The code's schedule only
    fills in the periodic tasks that have no row yet (jobs.periodic).
    """

    Entry = CodeDefaultEntry
    LOCK_KEY = "lock:beat"

    def __init__(self, *args, **kwargs):
        self._token = secrets.token_hex(16)
        self._leading = None  # unknown until the first tick, which then logs either way
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        touch("beat")  # leading or standing by, its loop turns (ops/liveness.py)
        if not self._hold_lock():
            return min(self.max_interval, settings.BEAT_LOCK_TTL_S / 3)
        return super().tick(*args, **kwargs)

    def _hold_lock(self) -> bool:
        ttl_ms = int(settings.BEAT_LOCK_TTL_S * 1000)
        try:
            held = bool(redis_client().eval(_ACQUIRE_OR_RENEW, 1, self.LOCK_KEY, self._token, ttl_ms))
        except Exception:
            logger.warning("beat could not reach Redis for its lock; not sending tasks", exc_info=True)
            held = False
        if held != self._leading:
            self._leading = held
            logger.warning("beat %s", "holds the lock: sending periodic tasks" if held else "is on standby")
        return held

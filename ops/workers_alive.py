"""Which Celery workers are alive, for `jobs_workers_alive`: each worker's main process records
its name with the time in a Redis sorted set, from the same timer as its liveness file."""

import contextlib
import logging
import time

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.redis_clients import redis_client
from ops.liveness import STALE_AFTER_S

logger = logging.getLogger(__name__)

WORKERS_ALIVE_KEY = "workers:alive"
FORGET_AFTER_S = 24 * 3600  # a worker that stopped without saying so is dropped from the set


def worker_alive_record(hostname: str) -> None:
    try:
        redis_client().zadd(WORKERS_ALIVE_KEY, {hostname: time.time()})
    except redis.RedisError:
        logger.warning("could not record in Redis that %s is alive", hostname, exc_info=True)


def worker_alive_forget(hostname: str) -> None:
    with contextlib.suppress(redis.RedisError):  # else its entry goes stale by itself
        redis_client().zrem(WORKERS_ALIVE_KEY, hostname)


class WorkersAliveCollector(Collector):
    """Workers that recorded themselves within STALE_AFTER_S; nothing while Redis is away."""

    def collect(self):
        now = time.time()
        try:
            with redis_client().pipeline() as pipe:
                pipe.zremrangebyscore(WORKERS_ALIVE_KEY, "-inf", now - FORGET_AFTER_S)
                pipe.zcount(WORKERS_ALIVE_KEY, now - STALE_AFTER_S, "+inf")
                alive = pipe.execute()[1]
        except redis.RedisError:
            logger.warning("could not count the live workers in Redis", exc_info=True)
            return
        yield GaugeMetricFamily("jobs_workers_alive", "Celery workers whose liveness timer turns.", alive)

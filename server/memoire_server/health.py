"""gRPC health that follows the server's dependencies, probed in the background.

What each name reports (``grpc.health.v1.Health/Check`` and ``Watch``):

- ``""``, ``memoire.v1.MemoryService`` and ``memoire.v1.AccountService``: SERVING while
  Postgres answers, NOT_SERVING while it does not. Every call needs Postgres; none needs
  Redis (reads skip the cache, writes are metered per process, extraction jobs wait in
  Postgres for the sweeper), so a Redis outage does not take a replica out of a load balancer.
- ``memoire.postgres`` and ``memoire.redis``: each dependency on its own, for operators.
  ``memoire.redis`` NOT_SERVING means facts of new messages wait until Redis is back; it is
  absent when the server has no Redis.

Statuses change within one probe interval of an outage or a recovery, without a restart.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from grpc_health.v1 import _async as aio_health
from grpc_health.v1 import health_pb2
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from memoire_core.db.engine import database_answers, make_probe_engine

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
POSTGRES = "memoire.postgres"
REDIS = "memoire.redis"
# Longest a probe waits for an answer; a dependency slower than this is as good as down.
PROBE_TIMEOUT_SECONDS = 2.0

Probe = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Dependencies:
    """Which dependencies answered the last probe; ``redis`` is None when there is none."""

    postgres: bool
    redis: bool | None


class HealthProbe:
    """Probes Postgres and Redis on an interval and sets every health status from the result."""

    def __init__(
        self,
        servicer: aio_health.HealthServicer,
        services: tuple[str, ...],
        database_url: str,
        redis_url: str,
        interval: float,
    ) -> None:
        self._servicer = servicer
        self._services = services
        self._interval = interval
        timeout = min(PROBE_TIMEOUT_SECONDS, interval)
        # Its own connection: a pool exhausted by calls must not read as a database outage.
        self._engine: AsyncEngine = make_probe_engine(database_url, timeout)
        self._redis: Redis | None = (
            Redis.from_url(redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
            if redis_url
            else None
        )
        self._timeout = timeout
        self._last: Dependencies | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Dependencies:
        """Probe once, publish the statuses, then keep probing in the background."""
        found = await self.probe_once()
        self._task = asyncio.create_task(self._probe_forever(), name="memoire-health")
        return found

    async def probe_once(self) -> Dependencies:
        """Probe both dependencies at once and publish what changed."""
        postgres, redis = await asyncio.gather(
            database_answers(self._engine, self._timeout), self._redis_answers()
        )
        found = Dependencies(postgres, redis)
        if found != self._last:
            await self._publish(found)
            self._last = found
        return found

    async def _redis_answers(self) -> bool | None:
        if self._redis is None:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.ping()
        except Exception:  # refused, reset, timed out: all mean it cannot serve now
            return False
        return True

    async def _publish(self, found: Dependencies) -> None:
        if self._last is not None:
            log.warning(
                "health: Postgres %s, Redis %s",
                _word(found.postgres),
                "not configured" if found.redis is None else _word(found.redis),
            )
        serving = SERVING if found.postgres else NOT_SERVING
        for name in (*self._services, "", POSTGRES):
            await self._servicer.set(name, serving)
        if found.redis is not None:
            await self._servicer.set(REDIS, SERVING if found.redis else NOT_SERVING)

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.probe_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in a probe must not stop health reporting for good
                log.exception("health probe failed")

    async def close(self) -> None:
        """Stop probing and release the probe's connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()
        await self._engine.dispose()


def _word(up: bool) -> str:
    return "answers" if up else "is unreachable"

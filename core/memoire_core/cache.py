"""The Conscious cache in Redis, invalidated by every change to a user's facts.

Each user has a version number; a cached answer is stored under the version read before the
database was, and every writer bumps the version after its commit. A reader that raced a
writer therefore stores its answer under a version nobody asks for again. If Redis is down,
reads go to Postgres and an entry can outlive a change by at most its TTL.
"""

import logging
import uuid
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from memoire_core.metrics import CONSCIOUS_CACHE

log = logging.getLogger(__name__)

TTL_SECONDS = 300


def _version_key(user_id: uuid.UUID) -> str:
    return f"memoire:conscious:v:{user_id}"


def _entry_key(user_id: uuid.UUID, version: int, variant: str) -> str:
    return f"memoire:conscious:{user_id}:{version}:{variant}"


class ConsciousCache:
    """Opaque cached answers per user and variant (e.g. the requested limit)."""

    def __init__(self, redis_url: str) -> None:
        self._redis: Redis = Redis.from_url(
            redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
        )

    async def version(self, user_id: uuid.UUID) -> int | None:
        """The user's current version; None when Redis cannot be reached."""
        try:
            value = await self._redis.get(_version_key(user_id))
        except (RedisError, OSError):
            log.debug("conscious cache unreachable", exc_info=True)
            CONSCIOUS_CACHE.labels("miss").inc()  # the answer comes from Postgres
            return None
        return int(value or 0)

    async def get(self, user_id: uuid.UUID, version: int, variant: str) -> bytes | None:
        """A cached answer, if one was stored under this version."""
        try:
            value = await self._redis.get(_entry_key(user_id, version, variant))
        except (RedisError, OSError):
            value = None
        found = value if isinstance(value, bytes) else None
        CONSCIOUS_CACHE.labels("miss" if found is None else "hit").inc()
        return found

    async def put(self, user_id: uuid.UUID, version: int, variant: str, value: bytes) -> None:
        """Store an answer computed after reading ``version``."""
        try:
            await self._redis.set(_entry_key(user_id, version, variant), value, ex=TTL_SECONDS)
        except (RedisError, OSError):
            log.debug("conscious cache unreachable", exc_info=True)

    async def invalidate(self, user_ids: Iterable[uuid.UUID]) -> None:
        """Retire every cached answer of these users; call after the change is committed."""
        keys = [_version_key(u) for u in set(user_ids)]
        if not keys:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.incr(key)
                    pipe.expire(key, 7 * 86_400)
                await pipe.execute()
        except (RedisError, OSError):
            log.warning("could not invalidate the conscious cache of %d users", len(keys))

    async def forget(self, user_id: uuid.UUID) -> None:
        """Delete every cached answer of an erased user, not just retire them."""
        try:
            doomed = [_version_key(user_id)]
            async for key in self._redis.scan_iter(match=f"memoire:conscious:{user_id}:*"):
                doomed.append(key)
            await self._redis.delete(*doomed)
        except (RedisError, OSError):
            log.warning("could not erase the conscious cache of a forgotten user")

    async def close(self) -> None:
        await self._redis.aclose()

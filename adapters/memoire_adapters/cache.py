"""The Conscious cache in Redis, invalidated by every change to a user's facts.

Each user has a version number; a cached answer is stored with the version read before the
database was, and every writer bumps the version after its commit. A reader that raced a
writer therefore stores its answer under a version nobody asks for again. Reading the
version and the answer is one round trip (MGET): the answer carries its version in its
first bytes. If Redis is down, reads go to Postgres and an entry can outlive a change by at
most its TTL.
"""

import logging
import uuid
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from memoire_adapters.metrics import CONSCIOUS_CACHE
from memoire_core.ports import Lookup

log = logging.getLogger(__name__)

TTL_SECONDS = 300


# Bumped whenever a key stops working (revoked, rotated, its user forgotten): servers that
# remember recently checked keys drop them when it moves.
KEYS_EPOCH_KEY = "memoire:keys:epoch"


def _version_key(user_id: uuid.UUID) -> str:
    return f"memoire:conscious:v:{user_id}"


def _entry_key(user_id: uuid.UUID, variant: str) -> str:
    return f"memoire:conscious:{user_id}:{variant}"


# An entry is its version as 8 big-endian bytes, then the answer.
_VERSION_BYTES = 8


class ConsciousCache:
    """Opaque cached answers per user and variant (e.g. the requested limit), in Redis;
    the ``Cache`` of ``memoire_core.ports``."""

    def __init__(self, redis_url: str) -> None:
        self._redis: Redis = Redis.from_url(
            redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
        )

    async def lookup(self, user_id: uuid.UUID, variant: str) -> Lookup | None:
        """The current version and its cached answer; None when Redis cannot be reached."""
        try:
            version, entry, epoch = await self._redis.mget(
                _version_key(user_id), _entry_key(user_id, variant), KEYS_EPOCH_KEY
            )
        except (RedisError, OSError):
            log.debug("conscious cache unreachable", exc_info=True)
            CONSCIOUS_CACHE.labels("miss").inc()  # the answer comes from Postgres
            return None
        current = int(version or 0)
        answer = None
        if isinstance(entry, bytes) and len(entry) >= _VERSION_BYTES:
            stored = int.from_bytes(entry[:_VERSION_BYTES], "big")
            answer = entry[_VERSION_BYTES:] if stored == current else None
        CONSCIOUS_CACHE.labels("miss" if answer is None else "hit").inc()
        return Lookup(current, answer, int(epoch or 0))

    async def keys_epoch(self) -> int | None:
        """The epoch of API keys; None when Redis cannot be reached."""
        try:
            return int(await self._redis.get(KEYS_EPOCH_KEY) or 0)
        except (RedisError, OSError):
            return None

    async def keys_changed(self) -> None:
        """Tell every server that a key stopped working (after the change is committed)."""
        try:
            await self._redis.incr(KEYS_EPOCH_KEY)
        except (RedisError, OSError):
            log.warning("could not announce a key change; remembered keys expire on their own")

    async def put(self, user_id: uuid.UUID, version: int, variant: str, value: bytes) -> None:
        """Store an answer computed after reading ``version``."""
        entry = version.to_bytes(_VERSION_BYTES, "big") + value
        try:
            await self._redis.set(_entry_key(user_id, variant), entry, ex=TTL_SECONDS)
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

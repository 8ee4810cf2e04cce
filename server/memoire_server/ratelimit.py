"""Token buckets per API key and method class, and a guard against guessing keys, in Redis.

One Lua script checks the caller's client address against its recent failed
authentications and takes a token from the key's bucket, atomically, in one round trip.
Buckets refill continuously at ``rate`` tokens a second up to ``burst``; the clock is
Redis's own, so every server process agrees on it.

If Redis cannot be reached, each server process meters calls with token buckets of its own,
at the same rate and burst, until Redis answers again: writes keep flowing (messages live in
Postgres, and the sweeper queues their extraction later), no caller can flood storage, and
with N server processes a key may get up to N times its rate meanwhile. The outage and the
recovery are logged once each and shown by the ``memoire_rate_limit_local`` gauge. The
failed-authentication guard, which needs a count shared by every process, is off meanwhile.
"""

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from memoire_core.config import Settings
from memoire_core.errors import ResourceExhausted

log = logging.getLogger(__name__)

RATE_LIMIT_LOCAL = Gauge(
    "memoire_rate_limit_local",
    "1 while Redis is unreachable and this process meters calls with its own token buckets.",
)
RATE_LIMIT_LOCAL_CALLS = Counter(
    "memoire_rate_limit_local_calls",
    "Calls metered by this process's own token buckets while Redis was unreachable, by "
    "method class (read, write, stream) and result (admitted or limited).",
    ["method_class", "result"],
)

AUTH_WINDOW_SECONDS = 60
DOWN_COOL_OFF_SECONDS = 1.0
# Keys the local buckets remember; the least recently used is forgotten past this.
LOCAL_KEYS = 10_000

# KEYS[1]: the failed-auth counter of the client address; KEYS[2]: the key's bucket, if any.
# ARGV: failures allowed (0 = unguarded), bucket rate per second, bucket burst.
# Returns {0 allowed / 1 over the rate / 2 too many failed authentications, wait in ms}.
_ADMIT = """
local allowed_failures = tonumber(ARGV[1])
if allowed_failures > 0 then
  local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
  if failures >= allowed_failures then
    return {2, math.max(redis.call('PTTL', KEYS[1]), 1)}
  end
end
if #KEYS < 2 then
  return {0, 0}
end
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[2], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local verdict, wait_ms = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
else
  verdict = 1
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[2], math.ceil(burst / rate * 1000) + 1000)
return {verdict, wait_ms}
"""

_FAILED = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
"""


class MethodClass(StrEnum):
    """Which bucket a call draws from."""

    READ = "read"
    WRITE = "write"
    STREAM = "stream"


@dataclass(frozen=True)
class Bucket:
    """A refill rate in tokens a second and the most tokens a bucket holds."""

    rate: float
    burst: int


@dataclass
class _Level:
    """How full one key's local bucket was at a moment (monotonic seconds)."""

    tokens: float
    at: float


class LocalBuckets:
    """Token buckets in this process's memory, used while Redis is unreachable."""

    def __init__(self, max_keys: int = LOCAL_KEYS) -> None:
        self._levels: OrderedDict[str, _Level] = OrderedDict()
        self._max_keys = max_keys

    def take(self, key: str, bucket: Bucket) -> float:
        """Take a token; 0 when taken, else the seconds until one will be there."""
        now = time.monotonic()
        level = self._levels.pop(key, None) or _Level(float(bucket.burst), now)
        level.tokens = min(bucket.burst, level.tokens + (now - level.at) * bucket.rate)
        level.at = now
        self._levels[key] = level
        if len(self._levels) > self._max_keys:
            self._levels.popitem(last=False)
        if level.tokens >= 1:
            level.tokens -= 1
            return 0.0
        return (1 - level.tokens) / bucket.rate


class RateLimiter:
    """Admits or refuses calls; one instance per process, shared by every call."""

    def __init__(self, redis_url: str, settings: Settings) -> None:
        self._redis: Redis = Redis.from_url(
            redis_url, socket_connect_timeout=0.25, socket_timeout=0.25
        )
        self._admit = self._redis.register_script(_ADMIT)
        self._failed = self._redis.register_script(_FAILED)
        self._secret = settings.secret_key.get_secret_value().encode()
        self._allowed_failures = settings.auth_failures_per_minute
        self._buckets = {
            MethodClass.READ: Bucket(
                settings.rate_limit_reads_per_second, settings.rate_limit_reads_burst
            ),
            MethodClass.WRITE: Bucket(
                settings.rate_limit_writes_per_second, settings.rate_limit_writes_burst
            ),
            MethodClass.STREAM: Bucket(
                settings.rate_limit_streams_per_second, settings.rate_limit_streams_burst
            ),
        }
        self._down_until = 0.0
        self._local = LocalBuckets()
        self._metering_locally = False

    def _bucket_key(self, method_class: MethodClass, presented_key: str) -> str:
        # Keyed by a digest of the whole presented key: nobody can drain a bucket of a key
        # whose secret they do not hold.
        digest = hashlib.sha256(self._secret + presented_key.encode()).hexdigest()[:32]
        return f"memoire:rl:{method_class.value}:{digest}"

    async def admit(self, method_class: MethodClass, presented_key: str, client: str) -> None:
        """Take a token for one call, or raise ResourceExhausted with the wait."""
        bucket = self._buckets[method_class]
        limited = bucket.rate > 0 and bucket.burst > 0 and bool(presented_key)
        if not limited and self._allowed_failures <= 0:
            return
        key = self._bucket_key(method_class, presented_key) if limited else ""
        if time.monotonic() < self._down_until:
            self._admit_locally(method_class, key, limited)
            return
        keys = [_failures_key(client)]
        if limited:
            keys.append(key)
        try:
            verdict, wait_ms = await self._admit(
                keys=keys, args=[self._allowed_failures, bucket.rate, bucket.burst]
            )
        except (RedisError, OSError):
            self._down_until = time.monotonic() + DOWN_COOL_OFF_SECONDS
            self._admit_locally(method_class, key, limited)
            return
        if self._metering_locally:
            self._metering_locally = False
            RATE_LIMIT_LOCAL.set(0)
            log.warning("rate limiter reaches Redis again: limits are shared again")
        if verdict == 1:
            raise ResourceExhausted(
                f"rate limit of {bucket.rate:g} {method_class.value}s per second exceeded",
                reason="RATE_LIMITED",
                retry_after=int(wait_ms) / 1000,
            )
        if verdict == 2:
            raise ResourceExhausted(
                "too many failed authentications from this address",
                reason="AUTH_THROTTLED",
                retry_after=int(wait_ms) / 1000,
            )

    async def failed_authentication(self, client: str) -> None:
        """Count one failed authentication against the client address."""
        if self._allowed_failures <= 0 or time.monotonic() < self._down_until:
            return
        try:
            await self._failed(keys=[_failures_key(client)], args=[AUTH_WINDOW_SECONDS])
        except (RedisError, OSError):
            self._down_until = time.monotonic() + DOWN_COOL_OFF_SECONDS

    def _admit_locally(self, method_class: MethodClass, key: str, limited: bool) -> None:
        """Meter a call with this process's own bucket for the key, as Redis cannot."""
        if not self._metering_locally:
            self._metering_locally = True
            RATE_LIMIT_LOCAL.set(1)
            log.warning(
                "rate limiter cannot reach Redis: each process meters calls on its own "
                "until it is back"
            )
        if not limited:
            return
        bucket = self._buckets[method_class]
        wait = self._local.take(key, bucket)
        RATE_LIMIT_LOCAL_CALLS.labels(method_class.value, "limited" if wait else "admitted").inc()
        if wait:
            raise ResourceExhausted(
                f"rate limit of {bucket.rate:g} {method_class.value}s per second exceeded",
                reason="RATE_LIMITED",
                retry_after=wait,
            )

    async def close(self) -> None:
        """Release the connection to Redis."""
        await self._redis.aclose()


def _failures_key(client: str) -> str:
    return f"memoire:authfail:{client}"

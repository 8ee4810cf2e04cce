"""Time-ordered UUIDs (version 7) so new rows land at the right edge of their indexes."""

import os
import threading
import time
import uuid

_RAND_BITS = 74
_lock = threading.Lock()
_last: tuple[int, int] = (0, 0)  # (milliseconds, random bits) of the id issued last


def new_id() -> uuid.UUID:
    """Return a fresh UUIDv7: 48 bits of Unix milliseconds, then 74 random bits.

    Ids of one process only grow: within a millisecond (or if the clock steps back) the random
    part counts up from the last id (RFC 9562, section 6.2), so rows written by one transaction,
    which share its ``now()``, still sort in the order they were made.
    """
    global _last  # noqa: PLW0603 - the process-wide high-water mark
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big") >> (80 - _RAND_BITS)
    with _lock:
        last_millis, last_rand = _last
        if millis <= last_millis:
            millis, rand = last_millis, last_rand + 1
            if rand >> _RAND_BITS:
                millis, rand = millis + 1, 0
        _last = (millis, rand)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 62) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)


def parse_id(text: str) -> uuid.UUID | None:
    """Parse a UUID string; None when it is not one (callers turn that into NOT_FOUND)."""
    try:
        return uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return None

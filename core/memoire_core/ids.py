"""Time-ordered UUIDs (version 7) so new rows land at the right edge of their indexes."""

import os
import time
import uuid


def new_id() -> uuid.UUID:
    """Return a fresh UUIDv7: 48 bits of Unix milliseconds, then 74 random bits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)


def parse_id(text: str) -> uuid.UUID | None:
    """Parse a UUID string; None when it is not one (callers turn that into NOT_FOUND)."""
    try:
        return uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return None

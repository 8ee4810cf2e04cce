"""Callers whose key was checked moments ago, so a Conscious answered from the cache needs no
SQL at all.

An entry is found by a digest of the whole presented key and the user the call names, and
holds what checking them found. It is trusted only while the epoch of API keys in Redis
(``memoire_adapters.cache.KEYS_EPOCH_KEY``, bumped whenever a key is revoked, rotated or its user
forgotten) still equals the one read before the key was checked, and at most
``MAX_AGE_SECONDS`` in any case (a bump lost while Redis was down).
"""

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from memoire_core.domain import Principal, UserRef

MAX_AGE_SECONDS = 10.0


@dataclass(frozen=True)
class Known:
    """A checked caller and the user its call named."""

    principal: Principal
    user: UserRef
    keys_epoch: int
    expires: float  # time.monotonic() after which the entry is not used


class KnownCallers:
    """A bounded memory of checked callers (least recently used go first)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[bytes, Known] = OrderedDict()
        self._max_entries = max_entries

    def get(self, presented: str, named: str) -> Known | None:
        """The caller, if checked recently enough; the epoch is the caller's to compare."""
        slot = _slot(presented, named)
        known = self._entries.get(slot)
        if known is None:
            return None
        if time.monotonic() >= known.expires:
            del self._entries[slot]
            return None
        self._entries.move_to_end(slot)
        return known

    def put(
        self, presented: str, named: str, principal: Principal, user: UserRef, keys_epoch: int
    ) -> None:
        """Remember a caller whose key was checked after ``keys_epoch`` was read."""
        lifetime = MAX_AGE_SECONDS
        if principal.valid_until is not None:
            remaining = (principal.valid_until - datetime.now(UTC)).total_seconds()
            lifetime = min(lifetime, remaining)
        if lifetime <= 0:
            return
        slot = _slot(presented, named)
        self._entries[slot] = Known(principal, user, keys_epoch, time.monotonic() + lifetime)
        self._entries.move_to_end(slot)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


def _slot(presented: str, named: str) -> bytes:
    # The whole key is hashed: a forged key sharing a real key's id finds nothing here.
    return hashlib.sha256(f"{presented}\0{named}".encode()).digest()

"""A circuit breaker, so an unreachable memory service costs nothing after a few failures.

CLOSED: every call may use memory. After ``failure_threshold`` failures in a row it OPENs:
calls skip memory at no cost. Once ``cooldown`` seconds have passed, one call is let
through as a probe (HALF_OPEN): success closes the circuit, failure opens it again with a
cool-down twice as long (at most ``max_cooldown``). Thread-safe; the clock is injectable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts failures of the memory service and decides whether a call may use it."""

    def __init__(
        self,
        failure_threshold: int = 3,
        cooldown: float = 10.0,
        max_cooldown: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.max_cooldown = max(max_cooldown, cooldown)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._current_cooldown = cooldown
        self._opened_at = 0.0
        self._probe_started: float | None = None

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    @property
    def failures(self) -> int:
        """Failures in a row since the last success."""
        with self._lock:
            return self._failures

    def allow(self) -> bool:
        """Whether the next call may use the service; in HALF_OPEN only one probe at a time."""
        with self._lock:
            now = self._clock()
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.OPEN:
                if now - self._opened_at < self._current_cooldown:
                    return False
                self._state = BreakerState.HALF_OPEN
                self._probe_started = now
                return True
            # HALF_OPEN: a probe is out. Another may go only if that one never reported back.
            if self._probe_started is not None and now - self._probe_started < self.cooldown:
                return False
            self._probe_started = now
            return True

    def record_success(self) -> bool:
        """Note a success; True when it ends an outage (there were failures before it)."""
        with self._lock:
            recovered = self._failures > 0
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._current_cooldown = self.cooldown
            self._probe_started = None
            return recovered

    def record_failure(self) -> bool:
        """Note a failure; True when it is the first of an outage (worth one warning)."""
        with self._lock:
            first = self._failures == 0
            self._failures += 1
            now = self._clock()
            if self._state is BreakerState.HALF_OPEN:
                self._current_cooldown = min(self._current_cooldown * 2, self.max_cooldown)
                self._open(now)
            elif self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold:
                self._open(now)
            return first

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._probe_started = None

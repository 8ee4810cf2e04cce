"""Closed-loop load: ``concurrency`` callers each issue calls back to back for a while.

Every call's latency is kept, so percentiles are exact; throughput is calls (and items, for
batched writes) completed per second of wall time.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

# One call: its argument is the caller's running number; it returns how many items it handled.
Call = Callable[[int], Awaitable[int]]


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0-1) of an ascending list."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Stats:
    """Latency percentiles in milliseconds and throughput of one measured run."""

    calls: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    calls_per_s: float
    items_per_s: float
    first_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def stats(
    latencies: list[float], errors: int, items: int, wall: float, first_error: str = ""
) -> Stats:
    """Summarise latencies given in seconds."""
    ordered = sorted(x * 1000 for x in latencies)
    n = len(ordered)
    return Stats(
        calls=n,
        errors=errors,
        p50_ms=percentile(ordered, 0.50),
        p95_ms=percentile(ordered, 0.95),
        p99_ms=percentile(ordered, 0.99),
        mean_ms=sum(ordered) / n if n else 0.0,
        max_ms=ordered[-1] if n else 0.0,
        calls_per_s=n / wall if wall > 0 else 0.0,
        items_per_s=items / wall if wall > 0 else 0.0,
        first_error=first_error,
    )


async def _drive(call: Call, concurrency: int, seconds: float, keep: bool) -> Stats:
    latencies: list[float] = []
    errors: list[str] = []
    items = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal items, counter
        while time.perf_counter() < deadline:
            counter += 1
            started = time.perf_counter()
            try:
                handled = await call(counter)
            except Exception as e:  # counted and reported; the run goes on
                errors.append(repr(e)[:300])
                continue
            if keep:
                latencies.append(time.perf_counter() - started)
                items += handled

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return stats(latencies, len(errors), items, wall, errors[0] if errors else "")


async def warm(call: Call, concurrency: int, seconds: float) -> None:
    """Drive the load for ``seconds`` without keeping anything (caches, pools, JIT warm up)."""
    if seconds > 0:
        await _drive(call, concurrency, seconds, keep=False)


async def measure(call: Call, concurrency: int, seconds: float) -> Stats:
    """Drive the load for ``seconds``, keeping every latency."""
    return await _drive(call, concurrency, seconds, keep=True)


async def closed_loop(call: Call, concurrency: int, seconds: float, warmup: float) -> Stats:
    """Warm up for ``warmup`` seconds (not kept), then measure for ``seconds``."""
    await warm(call, concurrency, warmup)
    return await measure(call, concurrency, seconds)


async def one_by_one(call: Callable[[int], Awaitable[float]], n: int) -> Stats:
    """``n`` sequential samples of a delay that ``call`` measures itself (in seconds)."""
    delays: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    for i in range(n):
        try:
            delays.append(await call(i))
        except Exception as e:  # counted and reported; the run goes on
            errors.append(repr(e)[:300])
    wall = time.perf_counter() - started
    return stats(delays, len(errors), len(delays), wall, errors[0] if errors else "")

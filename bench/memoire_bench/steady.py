"""Steady ingest: messages arrive at a fixed rate while a user waits to find a new turn by
meaning.

The background embedder gives each memory its vector after Ingest has answered. Under a
steady stream of writes it either keeps up (a new turn is found by meaning within one batch)
or falls behind (the queue of memories owed a vector grows and so does the delay). A probe
ingests a turn for a user of its own, then Recalls with a paraphrase that shares no word with
the turn, until the turn comes back with a vector score: the delay a user feels before the
assistant can find what they said by meaning. The user holds nothing else, so any hit is that
turn, and a vector score above zero means its vector is stored and ranked: the measurement
goes through the public API only, and is exact to within one Recall (or a tenth of the delay,
as polling backs off).

Probes start at even intervals through the window, each on its own, so when the embedder
falls behind the later ones wait longer; the load stops at the end of the window however long
the last probes then wait (the embedder works through its queue oldest first, so what comes
later does not delay them).
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from memoire_bench import cpu, load, phases, turns
from memoire_proto.v1 import memory_service_pb2

# (turn, question): no word in common, so only the vector ranking can match them.
PARAPHRASES: tuple[tuple[str, str], ...] = (
    (
        "My grandmother adopted a tiny kitten from the animal shelter yesterday.",
        "Has an elderly relative taken in any young cat recently?",
    ),
    (
        "We drove up the coast to watch whales breaching near the harbour.",
        "Did somebody see giant marine mammals jumping by some port?",
    ),
    (
        "I finally passed my driving test after three failed attempts.",
        "Has anyone gotten their car licence yet, following several unsuccessful tries?",
    ),
    (
        "Our basement flooded during last night's thunderstorm and ruined the carpets.",
        "Was there water damage downstairs because of heavy rain?",
    ),
    (
        "She bakes sourdough bread every Sunday morning for the neighbours.",
        "Who makes fermented loaves weekly, at dawn, on weekends?",
    ),
    (
        "I sprained my ankle while jogging around the reservoir.",
        "Which injury happened to someone's foot during a run by that lake?",
    ),
    (
        "My brother is getting married in Portugal next spring.",
        "When will a sibling have his wedding abroad?",
    ),
    (
        "The violin lessons are expensive but the teacher is patient.",
        "Do those music classes cost much? Was that instructor calm?",
    ),
    (
        "I quit smoking six months ago and feel much healthier.",
        "Has anybody stopped using cigarettes? How long, half year?",
    ),
    (
        "Our startup just raised funding from two investors.",
        "Did a young company get money recently?",
    ),
)
PROBE_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.01
# Polls back off to a tenth of the time waited so far: a probe behind a long queue would
# otherwise send thousands of Recalls, taking the cores from the embedder it waits for.
BACKOFF = 0.1
MAX_PROBES = 20
IN_FLIGHT = 64  # Ingest calls outstanding at once; a send that finds them all busy is missed
PROBE_PREFIX = "probe-"


@dataclass
class Paced:
    """An open-loop load: one call every ``1 / rate`` seconds, whatever the replies do."""

    call: load.Call
    rate: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    missed: int = 0
    sent: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Send until ``stop``; waits for the calls still in flight."""
        interval = 1.0 / self.rate
        slots = asyncio.Semaphore(IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()
        next_at = time.perf_counter()
        while not self._stop.is_set():
            delay = next_at - time.perf_counter()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                continue
            next_at += interval
            if slots.locked():
                self.missed += 1  # the server is not keeping up: the rate is not reached
                continue
            await slots.acquire()
            self.sent += 1
            task = asyncio.create_task(self._one(self.sent, slots))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)

    async def _one(self, n: int, slots: asyncio.Semaphore) -> None:
        started = time.perf_counter()
        try:
            await self.call(n)
            self.latencies.append(time.perf_counter() - started)
        except Exception as e:  # counted and reported; the load goes on
            self.errors.append(repr(e)[:300])
        finally:
            slots.release()

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Tally:
    """Recalls the probes sent (their cost is part of the window's CPU)."""

    recalls: int = 0


async def probe(client: phases.Client, user: str, pair: tuple[str, str], tally: Tally) -> float:
    """Ingest ``pair``'s turn for ``user`` (who holds nothing else), then Recall with its
    paraphrase until the turn is a hit by vector: seconds from the Ingest reply."""
    turn, question = pair
    await client.memory.Ingest(
        memory_service_pb2.IngestRequest(
            user_id=user, session_id=phases.LIVE_SESSION, messages=[phases.message(turn)]
        ),
        metadata=client.metadata,
        timeout=30,
    )
    replied = time.perf_counter()
    while (waited := time.perf_counter() - replied) < PROBE_TIMEOUT_SECONDS:
        tally.recalls += 1
        reply = await client.memory.Recall(
            memory_service_pb2.RecallRequest(user_id=user, query=question, limit=10),
            metadata=client.metadata,
            timeout=30,
        )
        if any(hit.score.vector > 0 for hit in reply.hits):
            return time.perf_counter() - replied
        await asyncio.sleep(max(POLL_SECONDS, BACKOFF * waited))
    raise TimeoutError(f"turn not found by vector within {PROBE_TIMEOUT_SECONDS} s")


@dataclass(frozen=True)
class Probed:
    """The probes of one window: their delays, the users they made, the Recalls they sent."""

    delays: load.Stats
    users: list[str]
    recalls: int


async def probes(client: phases.Client, seconds: float, n: int) -> Probed:
    """``n`` probes, started at even intervals over ``seconds``; returns when all are done."""
    run = uuid.uuid4().hex[:8]
    users = [f"{PROBE_PREFIX}{run}-{i}" for i in range(n)]
    tally = Tally()

    async def one(i: int) -> float:
        await asyncio.sleep(i * seconds / n)
        return await probe(client, users[i], PARAPHRASES[i % len(PARAPHRASES)], tally)

    began = time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    wall = time.perf_counter() - began
    delays = [x for x in outcomes if isinstance(x, float)]
    # Counted and reported; the run goes on.
    errors = [repr(x)[:300] for x in outcomes if isinstance(x, BaseException)]
    first = errors[0] if errors else ""
    stats = load.stats(delays, len(errors), len(delays), wall, first)
    return Probed(stats, users, tally.recalls)


async def sample_owed(owed: Callable[[], Awaitable[int]], stop: asyncio.Event) -> list[int]:
    """The number of memories owed a vector, every ``OWED_EVERY_SECONDS`` until ``stop``.

    Stopped by an event, not cancelled: a cancelled query could leave its connection busy.
    """
    counts = []
    while not stop.is_set():
        counts.append(await owed())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), OWED_EVERY_SECONDS)
    return counts


async def forget(client: phases.Client, users: list[str]) -> None:
    """Erase the probes' users through the API, so a kept corpus stays as seeded."""
    for user in users:
        with contextlib.suppress(Exception):  # a probe whose Ingest failed made no user
            await client.memory.ForgetUser(
                memory_service_pb2.ForgetUserRequest(user_id=user),
                metadata=client.metadata,
                timeout=60,
            )


OWED_SQL = "SELECT count(*) FROM memories WHERE embedded_with IS NULL"
OWED_EVERY_SECONDS = 0.5


def messages(seed: int, n: int = 512) -> list[str]:
    """LoCoMo-like turns for the steady load (their length is what the embedder pays for)."""
    talk = turns.Turns(seed, "live")
    return [talk.turn() for _ in range(n)]


@dataclass(frozen=True)
class Window:
    """What one steady window saw."""

    paced: Paced
    wall: float  # from the window's start until the last Ingest sent in it answered
    probed: Probed
    owed: list[int]  # memories owed a vector: at the start, every half second, at the end
    drain_s: float  # from the load's end until nothing was owed
    readings: tuple[cpu.Reading, cpu.Reading, cpu.Reading]  # at the start, end, caught up


async def _window(
    client: phases.Client,
    paced: Paced,
    owed: Callable[[], Awaitable[int]],
    seconds: float,
    probes_n: int,
    meter: cpu.Meter,
    drain: Callable[[], Awaitable[float]],
) -> Window:
    """The load already runs: probe for ``seconds``, stop it, and wait for the catch-up."""
    sending = asyncio.create_task(paced.run())
    sampled = asyncio.Event()
    try:
        start, before, began = await owed(), meter.read(), time.perf_counter()
        sampler = asyncio.create_task(sample_owed(owed, sampled))
        probing = asyncio.create_task(probes(client, seconds, probes_n))
        await asyncio.sleep(seconds)
        paced.stop()
        await sending
        wall, after = time.perf_counter() - began, meter.read()
        sampled.set()
        counts = [start, *await sampler, await owed()]
        drain_s = await drain()
        probed = await probing
    finally:
        paced.stop()
        sampled.set()
        await asyncio.gather(sending, return_exceptions=True)
    return Window(paced, wall, probed, counts, drain_s, (before, after, meter.read()))


async def measure(
    client: phases.Client,
    work: phases.Workload,
    dsn: str,
    rate: float,
    seconds: float,
    warmup: float,
    samples: int,
    meter: cpu.Meter,
    drain: Callable[[], Awaitable[float]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ingest ``rate`` messages/s while probing the delay to a vector hit; the results and
    the CPU per ingested message (over the window, and including the embedder's catch-up)."""
    conn = await asyncpg.connect(dsn)
    lock = asyncio.Lock()  # the sampler and the final counts share one connection

    async def owed() -> int:
        async with lock:
            count: int = await conn.fetchval(OWED_SQL)
            return count

    call = phases.ingest_call(client, work, 1)
    try:
        warm = Paced(call, rate)
        warming = asyncio.create_task(warm.run())
        await asyncio.sleep(warmup)
        warm.stop()
        await warming
        probes_n = max(1, min(samples, MAX_PROBES))
        window = await _window(client, Paced(call, rate), owed, seconds, probes_n, meter, drain)
    finally:
        await conn.close()
    await forget(client, window.probed.users)
    return _summary(window, rate)


def _summary(w: Window, rate: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The window's figures, and its CPU per ingested message."""
    done = len(w.paced.latencies)
    first = w.paced.errors[0] if w.paced.errors else ""
    results = {
        "target_per_s": rate,
        "achieved_per_s": round(done / w.wall, 1) if w.wall > 0 else 0.0,
        "window_s": round(w.wall, 1),
        "sent": w.paced.sent,
        "missed": w.paced.missed,
        "in_flight": IN_FLIGHT,
        "ingest": load.stats(w.paced.latencies, len(w.paced.errors), done, w.wall, first).as_dict(),
        "vector_found": w.probed.delays.as_dict(),
        "probe_recalls": w.probed.recalls,
        "method": "recall: a fresh user's one turn, queried by a paraphrase sharing no word, "
        "until it is a hit with a vector score",
        "owed_start": w.owed[0],
        "owed_max": max(w.owed),
        "owed_end": w.owed[-1],
        "drain_s": round(w.drain_s, 1),
    }
    before, after, caught_up = w.readings
    cost = {
        "window": cpu.per_call(before, after, done),
        "with_drain": cpu.per_call(before, caught_up, done),
    }
    return results, cost

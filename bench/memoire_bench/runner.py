"""One benchmark run, start to finish: stack, corpus, measurements, results."""

import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
import grpc
import redis.asyncio

from memoire_adapters.embedding import make_embedder
from memoire_bench import (
    corpus,
    cpu,
    history,
    load,
    phases,
    report,
    scripted_llm,
    seed,
    stack,
    steady,
)
from memoire_bench.levels import Levels
from memoire_cli import migrate
from memoire_core.config import Settings
from memoire_core.db.engine import make_engine, make_session_factory
from memoire_core.db.repos import accounts as accounts_repo
from memoire_core.ports import Embedder, Vector
from memoire_core.services.accounts import create_app_with_key
from memoire_core.services.recall import Ranking
from memoire_stack.services import (
    CliProcess,
    LocalPostgres,
    LocalRedis,
    LocalServer,
    free_port,
    local_secret,
)

DATABASE = "memoire_bench"
APP = "bench"
CORPUS_FILE = "corpus.json"
BACKLOG_TIMEOUT_SECONDS = 600.0
SQL_POOL = 20  # the server's own ceiling: db_pool_size 10 plus 10 overflow


@dataclass(frozen=True)
class Options:
    """What to seed and how hard to push."""

    memories: int = 100_000
    users: int = 1_000
    concurrency: tuple[int, ...] = (1, 16, 64)
    seconds: float = 10.0  # measured, per call and concurrency level
    warmup: float = 2.0
    samples: int = 50  # of each delay
    pool: int = 1_024  # distinct embedded sentences the corpus draws from
    ingest_batch: int = 1  # messages per Ingest call
    seed: int = 7
    # Users with LoCoMo-like histories: how many memories each holds, and how many of each.
    history_sizes: tuple[int, ...] = (100, 1_000, 10_000)
    history_users: tuple[int, ...] = (50, 20, 5)
    ingest_rate: float = 200.0  # messages/s of the steady ingest load
    steady_seconds: float = 30.0  # measured window of the steady ingest load
    data_dir: Path | None = None  # keeps the corpus between runs; a temporary folder if None
    out_dir: Path = Path("bench/results")

    def history(self) -> dict[int, int]:
        """Users to seed per history size (sizes with no user left out)."""
        return {s: n for s, n in zip(self.history_sizes, self.history_users, strict=True) if n}


class Progress(Protocol):
    """Where a run reports what it is doing (a progress bar, or nothing)."""

    def phase(self, label: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


@contextmanager
def _scratch(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        yield data_dir
        return
    # Short, so Postgres's Unix socket path stays within its limit.
    with tempfile.TemporaryDirectory(prefix="memoire-bench-") as path:
        yield Path(path)


def run(options: Options, progress: Progress) -> tuple[dict[str, Any], Path, Path]:
    """Run the whole benchmark; returns the results and the JSON and Markdown paths."""
    started = time.perf_counter()
    load_before = os.getloadavg()
    with _scratch(options.data_dir) as scratch:
        postgres = LocalPostgres(scratch / "pg", database=DATABASE)
        redis_server = LocalRedis(scratch / "redis")
        try:
            url = _database(postgres, scratch, options)
            redis_server.start()
            results = asyncio.run(_measure(options, progress, scratch, url, redis_server.url))
        finally:
            redis_server.stop()
            postgres.stop()
    results["duration_s"] = round(time.perf_counter() - started, 1)
    # Other processes on the machine skew every figure: say how busy it was.
    results["machine"]["load_average"] = {
        "start": [round(x, 2) for x in load_before],
        "end": [round(x, 2) for x in os.getloadavg()],
    }
    json_path, md_path = report.write(results, options.out_dir)
    return results, json_path, md_path


def _corpus_spec(options: Options) -> dict[str, Any]:
    return {
        "memories": options.memories,
        "users": options.users,
        "pool": options.pool,
        "seed": options.seed,
        "history": {str(size): n for size, n in options.history().items()},
    }


def _database(postgres: LocalPostgres, scratch: Path, options: Options) -> str:
    """Start Postgres; a database holding another corpus (or half of one) starts afresh."""
    url = postgres.start()
    marker = scratch / CORPUS_FILE
    if marker.exists() and json.loads(marker.read_text()).get("spec") == _corpus_spec(options):
        return url
    marker.unlink(missing_ok=True)
    postgres.psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE);")
    url = postgres.start()
    migrate.upgrade(url)
    return url


async def _bench_key(url: str, secret: str) -> tuple[uuid.UUID, str]:
    """The bench app (made on first use) and a fresh app key for it."""
    engine = make_engine(url, pool_size=1)
    try:
        async with make_session_factory(engine)() as db, db.begin():
            app_id = await accounts_repo.get_or_create_app(db, APP)
            key = await create_app_with_key(db, secret.encode(), APP, "bench")
    finally:
        await engine.dispose()
    return app_id, key.secret


async def _seed(
    options: Options,
    progress: Progress,
    scratch: Path,
    url: str,
    app_id: uuid.UUID,
    embedder: Embedder,
) -> dict[str, Any]:
    """Seed the corpus unless the data directory already holds this one."""
    marker = scratch / CORPUS_FILE
    if marker.exists():
        return {**json.loads(marker.read_text())["info"], "reused": True}
    began = time.perf_counter()
    progress.phase("embed pool", 1)
    pool = await seed.embed_pool(embedder, options.seed, options.pool)
    progress.advance()
    embedded = time.perf_counter()
    history = options.history()
    progress.phase("seed", options.users + sum(history.values()))
    done = 0

    def advance(users_done: int) -> None:
        nonlocal done
        progress.advance(users_done - done)
        done = users_done

    await seed.seed(
        seed.asyncpg_dsn(url),
        app_id,
        pool,
        embedder.model,
        options.users,
        options.memories,
        options.seed,
        advance,
        history,
    )
    info = {
        "users": options.users,
        "memories": options.memories,
        "history": {str(size): n for size, n in history.items()},
        "history_memories": sum(size * n for size, n in history.items()),
        "pool_sentences": len(pool.episodes) + len(pool.facts),
        "model": embedder.model,
        "pool_embed_s": round(embedded - began, 1),
        "seed_s": round(time.perf_counter() - embedded, 1),
    }
    marker.write_text(json.dumps({"spec": _corpus_spec(options), "info": info}))
    return {**info, "reused": False}


async def _measure(
    options: Options, progress: Progress, scratch: Path, url: str, redis_url: str
) -> dict[str, Any]:
    secret = local_secret(scratch)
    app_id, key = await _bench_key(url, secret)
    # The model the server's settings choose, its converted weights kept where the server's are.
    embedder = make_embedder(Settings(data_dir=scratch / "server"))
    corpus_info = await _seed(options, progress, scratch, url, app_id, embedder)
    rng = random.Random(options.seed)  # noqa: S311 - a reproducible workload
    episodes, _ = corpus.pool_texts(options.seed, options.pool)
    work = phases.Workload(
        options.users,
        corpus.questions(rng, 64),
        [text for text, _ in episodes],
        rng,
    )
    port = free_port()
    with scripted_llm.instant_llm() as llm_url:
        env = stack.service_env(url, redis_url, secret, scratch / "server", llm_url, port)
        logs = scratch / "logs"
        target = f"127.0.0.1:{port}"
        log = logs / "server.log"
        server = LocalServer(["serve"], env, log=log, stop_seconds=20.0, target=target)
        worker = CliProcess(["worker"], env, "worker", logs / "worker.log", stop_seconds=20.0)
        try:
            pid = await asyncio.to_thread(stack.start_server, server)
            watch = stack.MemoryWatch(pid)
            watch.start()
            meter = cpu.Meter(pid, cpu.postmaster_pid(scratch / "pg"))
            async with grpc.aio.insecure_channel(target) as channel:
                client = phases.Client(channel, key)
                results = await _phases(
                    options, progress, client, work, url, embedder, meter, _indexed(env)
                )
                await _drop_pending_jobs(redis_url, seed.asyncpg_dsn(url))
                worker.start()
                results["delays"].update(await _facts(options, progress, client, work))
            end = watch.stop()
            results["server_rss_mb"] = {"peak": round(watch.peak, 1), "end": round(end, 1)}
        finally:
            worker.stop()
            server.stop()
    if options.data_dir is not None:
        await _forget_live_rows(url)
    results["corpus"] = corpus_info
    results["machine"] = report.machine()
    results["settings"] = {
        **{k: v for k, v in asdict(options).items() if k not in {"data_dir", "out_dir"}},
        "concurrency": list(options.concurrency),
        "history_sizes": list(options.history_sizes),
        "history_users": list(options.history_users),
        "vector_index": env["MEMOIRE_VECTOR_INDEX"],
    }
    results["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["best"] = {
        "ingest_items_per_s": max(s["items_per_s"] for s in results["rpc"]["ingest"].values())
    }
    results["targets"] = report.check_targets(results)
    return results


async def _phases(
    options: Options,
    progress: Progress,
    client: phases.Client,
    work: phases.Workload,
    url: str,
    embedder: Embedder,
    meter: cpu.Meter,
    vector_index: bool,
) -> dict[str, Any]:
    """Latency, throughput and CPU per call and level, with their floors; episode delays;
    Recall per history size; the delay to a vector hit under steady ingest."""
    levels = Levels(options.concurrency, options.seconds, options.warmup, meter, progress.advance)
    progress.phase("measure", 5 * len(levels.concurrency) + 3)
    dsn = seed.asyncpg_dsn(url)
    vectors, embedding = await _embedding_floor(levels, embedder, work.questions)
    progress.advance()
    floor: dict[str, Any] = {"query_embedding": embedding.as_dict()}
    floor["empty_call"] = await levels.run(phases.empty_call(client), "floor", "empty_call")
    ranking = Ranking(vector_index=vector_index)
    queries = await phases.ranking_queries(dsn, work, vectors, embedder, ranking)
    sql_pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=SQL_POOL, server_settings={"jit": "off"}
    )
    try:
        floor["ranking_sql"] = await levels.run(
            phases.ranking_sql_call(sql_pool, queries, work.rng), "floor", "ranking_sql"
        )
        rpc = {
            "recall": await levels.run(phases.recall_call(client, work), "rpc", "recall"),
            "conscious": await levels.run(phases.conscious_call(client, work), "rpc", "conscious"),
            "ingest": await levels.run(
                phases.ingest_call(client, work, options.ingest_batch), "rpc", "ingest"
            ),
        }
        backlog = await _wait_backlog(dsn)
        progress.advance()
        recallable, embedded = await phases.episode_delays(client, work, options.samples)
        progress.advance()
        groups = options.history()
        progress.phase("history", 2 * len(levels.concurrency) * len(groups) + 1)
        by_size = await history.measure(
            levels, client, sql_pool, dsn, embedder, groups, options.seed, ranking
        )
    finally:
        await sql_pool.close()
    return {
        "rpc": rpc,
        "floor": floor,
        "ratios": _ratios(rpc, floor, levels.concurrency),
        "delays": {
            "embedding_backlog_s": round(backlog, 1),
            "episode_recallable": recallable.as_dict(),
            "episode_embedded": embedded.as_dict(),
        },
        "history": by_size,
        "steady_ingest": await _steady(options, progress, client, work, dsn, levels),
        "cpu_per_call": levels.cpu_per_call,
    }


async def _embedding_floor(
    levels: Levels, embedder: Embedder, questions: list[str]
) -> tuple[list[Vector], load.Stats]:
    """The questions' vectors, and the query embedding alone with its CPU per call."""
    await embedder.embed_query(questions[0])  # setting the engine up is no query's cost
    before = levels.meter.read()
    vectors, embedding = await phases.embed_questions(embedder, questions)
    levels.cpu_node("floor")["query_embedding"] = cpu.per_call(
        before, levels.meter.read(), embedding.calls
    )
    return vectors, embedding


def _indexed(env: dict[str, str]) -> bool:
    """Whether the server ranks vectors through HNSW indexes (as its settings read it)."""
    return env["MEMOIRE_VECTOR_INDEX"] == "hnsw"


async def _steady(
    options: Options,
    progress: Progress,
    client: phases.Client,
    work: phases.Workload,
    dsn: str,
    levels: Levels,
) -> dict[str, Any]:
    """The steady ingest load, LoCoMo-like turns into the seeded users, with its probes."""
    progress.phase("steady", 1)
    talk = phases.Workload(work.users, [], steady.messages(options.seed), work.rng)
    results, cost = await steady.measure(
        client,
        talk,
        dsn,
        options.ingest_rate,
        options.steady_seconds,
        options.warmup,
        options.samples,
        levels.meter,
        lambda: _wait_backlog(dsn),
    )
    levels.cpu_per_call["steady_ingest"] = cost
    progress.advance()
    return results


def _ratios(
    rpc: dict[str, Any], floor: dict[str, Any], levels: tuple[int, ...]
) -> dict[str, dict[str, float]]:
    """Each call's median over its floor's, per level: the service's own overhead."""

    def ratio(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
        return {
            str(c): round(a[str(c)]["p50_ms"] / b[str(c)]["p50_ms"], 2)
            for c in levels
            if b[str(c)]["p50_ms"] > 0
        }

    return {
        "Recall / ranking SQL": ratio(rpc["recall"], floor["ranking_sql"]),
        "Recall / empty call": ratio(rpc["recall"], floor["empty_call"]),
        "Conscious / empty call": ratio(rpc["conscious"], floor["empty_call"]),
        "Ingest / empty call": ratio(rpc["ingest"], floor["empty_call"]),
    }


async def _wait_backlog(dsn: str) -> float:
    """Seconds until every memory has its vector (the embedder catching up after Ingest)."""
    began = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        while await conn.fetchval("SELECT count(*) FROM memories WHERE embedded_with IS NULL"):
            if time.perf_counter() - began > BACKLOG_TIMEOUT_SECONDS:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return time.perf_counter() - began


async def _drop_pending_jobs(redis_url: str, dsn: str) -> None:
    """Forget the extraction jobs the load phases queued, so the worker starts idle.

    At scale workers run on machines of their own; here one would take the cores from the
    measurements, so none runs until the delay to facts is measured, and then it must not
    start behind the load phases' backlog.
    """
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE extraction_jobs SET state = 'skipped', reason = 'dropped by the benchmark'"
            " WHERE state IN ('pending', 'running')"
        )
    finally:
        await conn.close()


async def _facts(
    options: Options, progress: Progress, client: phases.Client, work: phases.Workload
) -> dict[str, Any]:
    """Ingest reply to facts stored, through the worker and the instant LLM; and the floor."""
    progress.phase("facts", options.samples + 2)
    await phases.facts_delay(client, work, -1, phases.WORKER_START_TIMEOUT_SECONDS)
    progress.advance()
    finished = ""

    async def one(i: int) -> float:
        nonlocal finished
        delay, finished = await phases.facts_delay(client, work, i, phases.DELAY_TIMEOUT_SECONDS)
        progress.advance()
        return delay

    facts = await load.one_by_one(one, options.samples)
    poll = await load.closed_loop(
        phases.get_extraction_call(client, finished), 1, min(options.seconds, 3.0), 0.5
    )
    progress.advance()
    return {"facts_visible": facts.as_dict(), "get_extraction_floor": poll.as_dict()}


async def _forget_live_rows(url: str) -> None:
    """Delete what the run ingested, so a kept corpus stays as seeded."""
    conn = await asyncpg.connect(seed.asyncpg_dsn(url))
    try:
        await conn.execute(
            "DELETE FROM memories WHERE session_id IN "
            "(SELECT id FROM sessions WHERE external_id = $1)",
            phases.LIVE_SESSION,
        )
        await conn.execute("DELETE FROM sessions WHERE external_id = $1", phases.LIVE_SESSION)
    finally:
        await conn.close()

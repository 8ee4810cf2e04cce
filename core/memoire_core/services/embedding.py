"""Background embedding: memories are stored first and given vectors moments later.

Ingest answers without waiting for a model; keyword ranking finds a new memory at once, and
its vector follows within the next batch. Processes share the work with SKIP LOCKED.
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

    Each memory's delay from creation to stored vector is observed once the batch commits.
    """
    async with sessions() as db, db.begin():
        claimed = await repo.claim_unembedded(db, batch_size)
        if not claimed:
            return 0
        vectors = await embedder.embed_passages([content for _, _, content, _ in claimed])
        await repo.store_embeddings(
            db,
            embedder.model,
            embedder.dimensions,
            [(mid, uid, vec) for (mid, uid, _, _), vec in zip(claimed, vectors, strict=True)],
        )
    searchable = datetime.now(UTC)
    for *_, created_at in claimed:
        # The creation time is the database's clock: never report a negative delay.
        INGEST_TO_SEARCHABLE.observe(max(0.0, (searchable - created_at).total_seconds()))
    return len(claimed)


async def prepare_model(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, *, index: bool
) -> None:
    """Make sure the model has its HNSW index before vectors arrive (when indexing is on)."""
    if not index:
        return
    async with sessions() as db, db.begin():
        await repo.ensure_vector_index(db, embedder.model, embedder.dimensions)

"""SQL for memories as callers see them, and for their embeddings."""

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.clauses import Owner, current_clause
from memoire_core.db.repos.rows import from_row
from memoire_core.db.tables import memories, memory_embeddings, messages, sessions, users
from memoire_core.domain import Kind, MemoryView, Role, Temporal
from memoire_core.ports import Vector


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A memory about to be stored; its confidence is also the base decay starts from."""

    id: uuid.UUID
    user_id: uuid.UUID
    kind: Kind
    content: str
    confidence: float
    valid_from: datetime
    last_refreshed_at: datetime
    category: str = ""
    slot: str = ""
    temporal: Temporal | None = None
    value: str = ""
    negated: bool = False
    essential: bool = False
    language: str = ""
    source_message_ids: tuple[uuid.UUID, ...] = ()
    session_id: uuid.UUID | None = None
    # For an episode, the message it stores.
    message_id: uuid.UUID | None = None
    role: Role | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    valid_to: datetime | None = None


def memory_values(m: NewMemory) -> dict[str, Any]:
    """The column values of a new memory row."""
    return {
        "id": m.id,
        "user_id": m.user_id,
        "kind": m.kind.value,
        "content": m.content,
        "category": m.category,
        "slot": m.slot,
        "temporal_state": m.temporal.value if m.temporal else None,
        "confidence": m.confidence,
        "base_confidence": m.confidence,
        "value": m.value,
        "negated": m.negated,
        "essential": m.essential,
        "language": m.language,
        "source_message_ids": list(m.source_message_ids),
        "session_id": m.session_id,
        "message_id": m.message_id,
        "role": m.role.value if m.role else None,
        "metadata": dict(m.metadata),
        "valid_from": m.valid_from,
        "valid_to": m.valid_to,
        "last_refreshed_at": m.last_refreshed_at,
    }


async def insert_memory(db: AsyncSession, memory: NewMemory) -> None:
    """Insert one memory."""
    await db.execute(insert(memories).values(memory_values(memory)))


# Memories with their user's and session's external ids, as callers see them.
MEMORY_VIEW = (
    select(
        *memories.c,
        users.c.external_id.label("user_external_id"),
        func.coalesce(sessions.c.external_id, "").label("session_external_id"),
    )
    .select_from(memories)
    .join(users, users.c.id == memories.c.user_id)
    .outerjoin(sessions, sessions.c.id == memories.c.session_id)
)


def to_view(row: Any) -> MemoryView:
    """Build the caller's view of a memory row selected with ``MEMORY_VIEW``."""
    return from_row(
        MemoryView,
        row,
        kind=Kind(row.kind),
        temporal=Temporal(row.temporal_state) if row.temporal_state else None,
        source_message_ids=list(row.source_message_ids),
        role=Role(row.role) if row.role else None,
        metadata=dict(row.metadata),
    )


async def get_memory(db: AsyncSession, owner: Owner, memory_id: uuid.UUID) -> MemoryView | None:
    """One memory the owner may see."""
    row = (await db.execute(MEMORY_VIEW.where(memories.c.id == memory_id, owner.clause()))).first()
    return to_view(row) if row else None


async def views_by_ids(
    db: AsyncSession, user_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, MemoryView]:
    """Memories of one user by id."""
    if not ids:
        return {}
    rows = await db.execute(_BY_IDS, {"user_id": user_id, "ids": list(ids)})
    return {r.id: to_view(r) for r in rows}


# Built once: building MEMORY_VIEW's statement costs more than running it.
_BY_IDS = MEMORY_VIEW.where(
    memories.c.user_id == bindparam("user_id"), memories.c.id.in_(bindparam("ids", expanding=True))
)


@dataclass(frozen=True)
class ListFilter:
    """Filters of ListMemories."""

    kind: Kind | None = None
    category: str = ""
    slot: str = ""
    current_only: bool = False


async def list_memories(
    db: AsyncSession,
    user_id: uuid.UUID,
    flt: ListFilter,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[MemoryView]:
    """A page of a user's memories, newest first, after a keyset position."""
    stmt = MEMORY_VIEW.where(memories.c.user_id == user_id)
    if flt.kind:
        stmt = stmt.where(memories.c.kind == flt.kind.value)
    if flt.category:
        stmt = stmt.where(memories.c.category == flt.category)
    if flt.slot:
        stmt = stmt.where(memories.c.slot == flt.slot)
    if flt.current_only:
        stmt = stmt.where(current_clause())
    if after is not None:
        stmt = stmt.where(tuple_(memories.c.created_at, memories.c.id) < tuple_(*after))
    stmt = stmt.order_by(memories.c.created_at.desc(), memories.c.id.desc()).limit(limit)
    return [to_view(r) for r in await db.execute(stmt)]


async def delete_memory(db: AsyncSession, memory_id: uuid.UUID) -> None:
    """Delete one memory (its vectors go with it); an episode takes its stored message along."""
    message_id = (
        await db.execute(
            delete(memories).where(memories.c.id == memory_id).returning(memories.c.message_id)
        )
    ).scalar_one_or_none()
    if message_id is not None:
        await db.execute(delete(messages).where(messages.c.id == message_id))


_CONSCIOUS = (
    MEMORY_VIEW.where(
        memories.c.user_id == bindparam("user_id"),
        memories.c.kind == Kind.FACT.value,
        current_clause(),
        or_(
            memories.c.essential,
            and_(
                memories.c.slot.in_(bindparam("core_slots", expanding=True)),
                memories.c.temporal_state == Temporal.CURRENT.value,
            ),
        ),
    )
    .order_by(
        memories.c.essential.desc(), memories.c.confidence.desc(), memories.c.created_at.desc()
    )
    .limit(bindparam("limit"))
)


async def conscious(
    db: AsyncSession, user_id: uuid.UUID, core_slots: Sequence[str], limit: int
) -> list[MemoryView]:
    """Essential facts and current values of core identity slots that hold now."""
    params = {"user_id": user_id, "core_slots": list(core_slots), "limit": limit}
    return [to_view(r) for r in await db.execute(_CONSCIOUS, params)]


# --- embeddings -------------------------------------------------------------------------------


def vector_index_name(model: str) -> str:
    """A stable, valid index name for one model's HNSW index."""
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:28]  # names stay within 63 bytes
    digest = hashlib.sha256(model.encode()).hexdigest()[:8]
    return f"ix_memory_embeddings_hnsw_{slug}_{digest}"


async def ensure_vector_index(db: AsyncSession, model: str, dimensions: int) -> None:
    """Create the model's partial HNSW index on a cast of the unsized column, once."""
    literal = model.replace("'", "''")
    await db.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {vector_index_name(model)} ON memory_embeddings "
            f"USING hnsw ((embedding::halfvec({int(dimensions)})) halfvec_cosine_ops) "
            f"WHERE model = '{literal}'"
        )
    )


@dataclass(frozen=True)
class Owed:
    """A memory that still owes a vector."""

    memory_id: uuid.UUID
    user_id: uuid.UUID
    content: str
    created_at: datetime


_OWED = (
    select(memories.c.id, memories.c.user_id, memories.c.content, memories.c.created_at)
    .where(memories.c.embedded_with.is_(None))
    .order_by(memories.c.created_at)
    .limit(bindparam("limit"))
)


async def owed_embeddings(db: AsyncSession, limit: int) -> list[Owed]:
    """Up to ``limit`` memories owing a vector, oldest first, read without locking them."""
    rows = await db.execute(_OWED, {"limit": limit})
    return [Owed(r.id, r.user_id, r.content, r.created_at) for r in rows]


async def owe_vectors_of(db: AsyncSession, model: str) -> int:
    """Mark every memory embedded with another model as owing a vector of ``model``."""
    result = await db.execute(
        update(memories)
        .where(memories.c.embedded_with.is_not(None), memories.c.embedded_with != model)
        .values(embedded_with=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def store_embeddings(
    db: AsyncSession,
    model: str,
    dimensions: int,
    items: Sequence[tuple[uuid.UUID, uuid.UUID, Vector]],
) -> list[uuid.UUID]:
    """Store vectors of memories still owing one and mark them embedded with ``model``.

    Memories deleted since they were read, or embedded by another process meanwhile, are
    skipped; returns the ids stored.
    """
    if not items:
        return []
    marked = set(
        (
            await db.execute(
                update(memories)
                .where(
                    memories.c.id.in_([mid for mid, _, _ in items]),
                    memories.c.embedded_with.is_(None),
                )
                .values(embedded_with=model)
                .returning(memories.c.id)
            )
        ).scalars()
    )
    rows = [
        {"memory_id": mid, "user_id": uid, "model": model, "dimensions": dimensions, "embedding": v}
        for mid, uid, v in items
        if mid in marked
    ]
    if rows:
        upsert = insert(memory_embeddings).values(rows)
        await db.execute(
            upsert.on_conflict_do_update(
                index_elements=[memory_embeddings.c.memory_id, memory_embeddings.c.model],
                set_={"embedding": upsert.excluded.embedding},
            )
        )
    return [mid for mid, _, _ in items if mid in marked]

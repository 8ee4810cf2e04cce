"""SQL for messages, memories, their events and their embeddings."""

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.tables import (
    extraction_jobs,
    memories,
    memory_embeddings,
    memory_events,
    messages,
    sessions,
    users,
)
from memoire_core.domain import EventType, EventView, Kind, MemoryView, Role, Temporal
from memoire_core.embedding import Vector


async def find_messages_by_client_ids(
    db: AsyncSession, user_id: uuid.UUID, client_ids: Sequence[str]
) -> dict[str, tuple[uuid.UUID, uuid.UUID | None]]:
    """Already stored messages by client id: their id and extraction id."""
    if not client_ids:
        return {}
    rows = await db.execute(
        select(messages.c.client_message_id, messages.c.id, messages.c.extraction_id).where(
            messages.c.user_id == user_id, messages.c.client_message_id.in_(client_ids)
        )
    )
    return {r.client_message_id: (r.id, r.extraction_id) for r in rows}


async def insert_messages(db: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert messages, skipping client ids already stored; returns the ids actually inserted."""
    if not rows:
        return set()
    stmt = (
        insert(messages)
        .values(rows)
        .on_conflict_do_nothing(
            index_elements=[messages.c.user_id, messages.c.client_message_id],
            index_where=messages.c.client_message_id.isnot(None),
        )
        .returning(messages.c.id)
    )
    return {r.id for r in await db.execute(stmt)}


async def insert_episodes(
    db: AsyncSession,
    rows: list[dict[str, Any]],
    events: list[dict[str, Any]],
    job: dict[str, Any] | None,
) -> None:
    """Insert episodes, their events and the extraction job reading them, in one round trip."""
    stmt = insert(memory_events).values(events).add_cte(insert(memories).values(rows).cte("ep"))
    if job is not None:
        stmt = stmt.add_cte(insert(extraction_jobs).values(job).cte("job"))
    await db.execute(stmt)


async def insert_memories(db: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert memory rows as given."""
    if rows:
        await db.execute(insert(memories).values(rows))


async def insert_events(db: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Append events to the log."""
    if rows:
        await db.execute(insert(memory_events).values(rows))


@dataclass(frozen=True)
class Owner:
    """Which rows a caller may see: an app's users, or one user of it."""

    app_id: uuid.UUID
    user_id: uuid.UUID | None = None

    def clause(self) -> ColumnElement[bool]:
        cond = users.c.app_id == self.app_id
        if self.user_id is not None:
            cond = and_(cond, users.c.id == self.user_id)
        return cond


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
    return MemoryView(
        id=row.id,
        user_external_id=row.user_external_id,
        kind=Kind(row.kind),
        content=row.content,
        category=row.category,
        slot=row.slot,
        temporal=Temporal(row.temporal_state) if row.temporal_state else None,
        confidence=row.confidence,
        essential=row.essential,
        language=row.language,
        source_message_ids=list(row.source_message_ids),
        session_external_id=row.session_external_id,
        role=Role(row.role) if row.role else None,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        created_at=row.created_at,
        superseded_at=row.superseded_at,
        superseded_by=row.superseded_by,
        last_refreshed_at=row.last_refreshed_at,
        metadata=dict(row.metadata),
        value=row.value,
        negated=row.negated,
    )


def current_clause() -> ColumnElement[bool]:
    """Memories that hold now: not superseded, not ended, not about the past, not only planned."""
    return and_(
        memories.c.superseded_at.is_(None),
        memories.c.valid_to.is_(None),
        or_(memories.c.temporal_state.is_(None), memories.c.temporal_state == "current"),
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


async def event_owner(db: AsyncSession, owner: Owner, memory_id: uuid.UUID) -> uuid.UUID | None:
    """The user whose log mentions the memory, if the owner may see them; deleted ones too."""
    return (
        await db.execute(
            select(memory_events.c.user_id)
            .join(users, users.c.id == memory_events.c.user_id)
            .where(memory_events.c.memory_id == memory_id, owner.clause())
            .limit(1)
        )
    ).scalar_one_or_none()


async def history(
    db: AsyncSession,
    user_id: uuid.UUID,
    memory_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[EventView]:
    """Events of a memory and those of other memories that name it, oldest first."""
    stmt = select(memory_events).where(
        memory_events.c.user_id == user_id,
        or_(memory_events.c.memory_id == memory_id, memory_events.c.related_memory_id == memory_id),
    )
    if after is not None:
        stmt = stmt.where(tuple_(memory_events.c.created_at, memory_events.c.id) > tuple_(*after))
    stmt = stmt.order_by(memory_events.c.created_at, memory_events.c.id).limit(limit)
    return [event_from_row(r) for r in await db.execute(stmt)]


async def events_of_extraction(
    db: AsyncSession, user_id: uuid.UUID, extraction_id: uuid.UUID
) -> list[EventView]:
    """Events of one user that an extraction caused, in the order they happened."""
    rows = await db.execute(
        select(memory_events)
        .where(
            memory_events.c.user_id == user_id,
            memory_events.c.extraction_id == extraction_id,
        )
        .order_by(memory_events.c.created_at, memory_events.c.id)
    )
    return [event_from_row(r) for r in rows]


def event_from_row(r: Any) -> EventView:
    """Build the caller's view of a memory_events row."""
    return EventView(
        id=r.id,
        memory_id=r.memory_id,
        type=EventType(r.type),
        cause=r.cause,
        related_memory_id=r.related_memory_id,
        extraction_id=r.extraction_id,
        slot=r.slot,
        confidence_before=r.confidence_before,
        confidence_after=r.confidence_after,
        created_at=r.created_at,
    )


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

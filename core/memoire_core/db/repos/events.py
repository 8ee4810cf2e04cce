"""SQL for the memory event log: append-only, one row per change, kept after its memory goes."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.clauses import Owner
from memoire_core.db.repos.rows import from_row
from memoire_core.db.tables import memory_events, users
from memoire_core.domain import EventType, EventView, MemoryEvent
from memoire_core.ids import new_id


def insert_events(events: Sequence[MemoryEvent]) -> Insert:
    """The statement appending ``events`` (not empty) to the log, each under a new id."""
    return insert(memory_events).values(
        [
            {
                "id": new_id(),
                "user_id": e.user_id,
                "memory_id": e.memory_id,
                "type": e.type.value,
                "cause": e.cause,
                "slot": e.slot,
                "extraction_id": e.extraction_id,
                "related_memory_id": e.related_memory_id,
                "confidence_before": e.confidence_before,
                "confidence_after": e.confidence_after,
            }
            for e in events
        ]
    )


async def record_events(db: AsyncSession, events: Sequence[MemoryEvent]) -> None:
    """Append events to the log."""
    if events:
        await db.execute(insert_events(events))


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
    return from_row(EventView, r, type=EventType(r.type))

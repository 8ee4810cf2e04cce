"""SQL for the memory events an extraction job wrote."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.tables import memory_events
from memoire_core.domain import EventType, EventView


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
    return [
        EventView(
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
        for r in rows
    ]

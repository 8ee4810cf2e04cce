"""SQL for storing messages verbatim, with their episodes and the job that will read them."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.events import insert_events
from memoire_core.db.repos.jobs import NewJob, job_values
from memoire_core.db.repos.memories import NewMemory, memory_values
from memoire_core.db.tables import extraction_jobs, memories, messages
from memoire_core.domain import MemoryEvent, MessageIn


@dataclass(frozen=True, slots=True)
class KnownMessage:
    """A message already stored under a client id, and the extraction it opened."""

    id: uuid.UUID
    extraction_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message about to be stored, with the id and said time chosen for it."""

    id: uuid.UUID
    message: MessageIn
    said_at: datetime


async def find_messages_by_client_ids(
    db: AsyncSession, user_id: uuid.UUID, client_ids: Sequence[str]
) -> dict[str, KnownMessage]:
    """Already stored messages by client id."""
    if not client_ids:
        return {}
    rows = await db.execute(
        select(messages.c.client_message_id, messages.c.id, messages.c.extraction_id).where(
            messages.c.user_id == user_id, messages.c.client_message_id.in_(client_ids)
        )
    )
    return {r.client_message_id: KnownMessage(r.id, r.extraction_id) for r in rows}


async def insert_messages(
    db: AsyncSession,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    extraction_id: uuid.UUID | None,
    new: Sequence[NewMessage],
) -> set[uuid.UUID]:
    """Insert messages, skipping client ids already stored; returns the ids actually inserted."""
    if not new:
        return set()
    rows = [
        {
            "id": n.id,
            "user_id": user_id,
            "session_id": session_id,
            "role": n.message.role.value,
            "content": n.message.content,
            "client_message_id": n.message.client_message_id,
            "metadata": n.message.metadata,
            "said_at": n.said_at,
            "extraction_id": extraction_id,
        }
        for n in new
    ]
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
    episodes: Sequence[NewMemory],
    events: Sequence[MemoryEvent],
    job: NewJob | None,
) -> None:
    """Insert episodes, their events and the extraction job reading them, in one round trip."""
    stmt = insert_events(events).add_cte(
        insert(memories).values([memory_values(e) for e in episodes]).cte("ep")
    )
    if job is not None:
        stmt = stmt.add_cte(insert(extraction_jobs).values(job_values(job)).cte("job"))
    await db.execute(stmt)

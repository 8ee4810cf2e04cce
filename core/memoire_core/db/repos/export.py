"""SQL for exports: every row of one user, streamed in a stable order."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.events import event_from_row
from memoire_core.db.repos.jobs import JOB_VIEW, job_view
from memoire_core.db.repos.memories import MEMORY_VIEW, to_view
from memoire_core.db.tables import extraction_jobs, memories, memory_events, messages, sessions
from memoire_core.db.tables import users as users_table
from memoire_core.domain import (
    EventView,
    JobView,
    MemoryView,
    MessageView,
    Role,
    SessionView,
    UserView,
)

BATCH_ROWS = 500


async def begin_snapshot(db: AsyncSession) -> None:
    """Make the open transaction read one consistent snapshot; must be its first statement."""
    await db.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


async def user(db: AsyncSession, user_id: uuid.UUID) -> UserView | None:
    row = (
        await db.execute(
            select(
                users_table.c.external_id, users_table.c.metadata, users_table.c.created_at
            ).where(users_table.c.id == user_id)
        )
    ).first()
    return UserView(row.external_id, dict(row.metadata), row.created_at) if row else None


async def _rows(db: AsyncSession, stmt: Select[Any]) -> AsyncIterator[Any]:
    result = await db.stream(stmt.execution_options(yield_per=BATCH_ROWS))
    async for row in result:
        yield row


async def session_views(
    db: AsyncSession, user_id: uuid.UUID, user_external_id: str
) -> AsyncIterator[SessionView]:
    stmt = (
        select(sessions.c.external_id, sessions.c.created_at, sessions.c.metadata)
        .where(sessions.c.user_id == user_id)
        .order_by(sessions.c.created_at, sessions.c.id)
    )
    async for r in _rows(db, stmt):
        yield SessionView(r.external_id, user_external_id, False, r.created_at, dict(r.metadata))


async def message_views(db: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[MessageView]:
    stmt = (
        select(*messages.c, sessions.c.external_id.label("session_external_id"))
        .join(sessions, sessions.c.id == messages.c.session_id)
        .where(messages.c.user_id == user_id)
        .order_by(messages.c.said_at, messages.c.id)
    )
    async for r in _rows(db, stmt):
        yield MessageView(
            id=r.id,
            session_external_id=r.session_external_id,
            role=Role(r.role),
            content=r.content,
            client_message_id=r.client_message_id or "",
            said_at=r.said_at,
            metadata=dict(r.metadata),
        )


async def memory_views(db: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[MemoryView]:
    stmt = MEMORY_VIEW.where(memories.c.user_id == user_id).order_by(
        memories.c.created_at, memories.c.id
    )
    async for r in _rows(db, stmt):
        yield to_view(r)


async def event_views(db: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[EventView]:
    stmt = (
        select(memory_events)
        .where(memory_events.c.user_id == user_id)
        .order_by(memory_events.c.created_at, memory_events.c.id)
    )
    async for r in _rows(db, stmt):
        yield event_from_row(r)


async def job_views(
    db: AsyncSession, user_id: uuid.UUID, user_external_id: str
) -> AsyncIterator[JobView]:
    stmt = JOB_VIEW.where(extraction_jobs.c.user_id == user_id).order_by(
        extraction_jobs.c.created_at, extraction_jobs.c.id
    )
    async for r in _rows(db, stmt):
        yield job_view(r, user_external_id)

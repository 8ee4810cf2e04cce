"""Everything stored about one user, for the user's right of access."""

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from memoire_core.db.repos import export as repo
from memoire_core.domain import (
    EventView,
    JobView,
    MemoryView,
    MessageView,
    SessionView,
    UserRef,
    UserView,
)
from memoire_core.errors import NotFound

ExportItem = UserView | SessionView | MessageView | MemoryView | EventView | JobView


async def export_user(
    sessions: async_sessionmaker[AsyncSession], user: UserRef
) -> AsyncIterator[ExportItem]:
    """The user, then sessions, messages, memories, events and jobs, all from one snapshot.

    Rows are streamed from a server-side cursor, so an export of any size holds one batch
    in memory at a time.
    """
    async with sessions() as db, db.begin():
        await repo.begin_snapshot(db)
        found = await repo.user(db, user.id)
        if found is None:
            raise NotFound(f"user {user.external_id!r} not found", reason="USER_NOT_FOUND")
        yield found
        async for session in repo.session_views(db, user.id, user.external_id):
            yield session
        async for message in repo.message_views(db, user.id):
            yield message
        async for memory in repo.memory_views(db, user.id):
            yield memory
        async for event in repo.event_views(db, user.id):
            yield event
        async for job in repo.job_views(db, user.id, user.external_id):
            yield job

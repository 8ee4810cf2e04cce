"""SQL for extraction jobs."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.memories import Owner
from memoire_core.db.tables import extraction_jobs, sessions, users
from memoire_core.domain import JobState


async def create_job(
    db: AsyncSession,
    *,
    job_id: uuid.UUID,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    message_ids: list[uuid.UUID],
    state: JobState,
    reason: str = "",
) -> None:
    """Record a new extraction job for an ingest window."""
    await db.execute(
        insert(extraction_jobs).values(
            id=job_id,
            user_id=user_id,
            session_id=session_id,
            message_ids=message_ids,
            state=state.value,
            reason=reason,
        )
    )


async def job_states(db: AsyncSession, job_ids: list[uuid.UUID]) -> dict[uuid.UUID, JobState]:
    """Current state of each job."""
    if not job_ids:
        return {}
    rows = await db.execute(
        select(extraction_jobs.c.id, extraction_jobs.c.state).where(
            extraction_jobs.c.id.in_(job_ids)
        )
    )
    return {r.id: JobState(r.state) for r in rows}


async def get_job(db: AsyncSession, owner: Owner, job_id: uuid.UUID) -> dict[str, Any] | None:
    """A job the owner may see, with its user's and session's external ids."""
    row = (
        await db.execute(
            select(
                *extraction_jobs.c,
                users.c.external_id.label("user_external_id"),
                sessions.c.external_id.label("session_external_id"),
            )
            .join(users, users.c.id == extraction_jobs.c.user_id)
            .outerjoin(sessions, sessions.c.id == extraction_jobs.c.session_id)
            .where(extraction_jobs.c.id == job_id, owner.clause())
        )
    ).first()
    return dict(row._mapping) if row else None

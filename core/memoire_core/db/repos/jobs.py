"""SQL for extraction jobs."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.memories import Owner
from memoire_core.db.tables import extraction_jobs, messages, sessions, users
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


async def lock_job(db: AsyncSession, job_id: uuid.UUID) -> dict[str, Any] | None:
    """The job row, locked until the transaction ends."""
    row = (
        await db.execute(
            select(extraction_jobs).where(extraction_jobs.c.id == job_id).with_for_update()
        )
    ).first()
    return dict(row._mapping) if row else None


async def mark_running(db: AsyncSession, job_id: uuid.UUID, runner: str) -> None:
    """Count an attempt and note when it started and who runs it."""
    await db.execute(
        update(extraction_jobs)
        .where(extraction_jobs.c.id == job_id)
        .values(
            state=JobState.RUNNING.value,
            attempts=extraction_jobs.c.attempts + 1,
            started_at=func.now(),
            runner=runner,
        )
    )


async def finish(
    db: AsyncSession,
    job_id: uuid.UUID,
    state: JobState,
    *,
    reason: str = "",
    fact_ids: list[uuid.UUID] | None = None,
    unmatched: list[dict[str, str]] | None = None,
    model: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    latency_ms: float = 0.0,
) -> None:
    """Put a job in a final state with what it produced and cost."""
    await db.execute(
        update(extraction_jobs)
        .where(extraction_jobs.c.id == job_id)
        .values(
            state=state.value,
            reason=reason,
            fact_ids=fact_ids or [],
            unmatched=unmatched or [],
            model=model,
            prompt_tokens=extraction_jobs.c.prompt_tokens + prompt_tokens,
            completion_tokens=extraction_jobs.c.completion_tokens + completion_tokens,
            llm_latency_ms=extraction_jobs.c.llm_latency_ms + round(latency_ms),
            finished_at=func.now(),
        )
    )


async def add_usage(
    db: AsyncSession, job_id: uuid.UUID, model: str, prompt_tokens: int, completion_tokens: int
) -> None:
    """Record tokens spent by an attempt that did not finish the job."""
    await db.execute(
        update(extraction_jobs)
        .where(extraction_jobs.c.id == job_id)
        .values(
            model=model,
            prompt_tokens=extraction_jobs.c.prompt_tokens + prompt_tokens,
            completion_tokens=extraction_jobs.c.completion_tokens + completion_tokens,
        )
    )


async def window(
    db: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, up_to: datetime, size: int
) -> list[dict[str, Any]]:
    """The last ``size`` messages of a session said up to ``up_to``, oldest first."""
    rows = await db.execute(
        select(messages.c.id, messages.c.role, messages.c.content, messages.c.said_at)
        .where(
            messages.c.user_id == user_id,
            messages.c.session_id == session_id,
            messages.c.said_at <= up_to,
        )
        .order_by(messages.c.said_at.desc(), messages.c.id.desc())
        .limit(size)
    )
    return [dict(r._mapping) for r in reversed(list(rows))]


async def messages_by_id(db: AsyncSession, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Messages with those ids, oldest first."""
    rows = await db.execute(
        select(messages.c.id, messages.c.role, messages.c.content, messages.c.said_at)
        .where(messages.c.id.in_(ids))
        .order_by(messages.c.said_at, messages.c.id)
    )
    return [dict(r._mapping) for r in rows]


async def unfinished(db: AsyncSession, created_before: datetime) -> list[dict[str, Any]]:
    """Pending or running jobs created before a time, with when and where they last started."""
    rows = await db.execute(
        select(
            extraction_jobs.c.id,
            extraction_jobs.c.state,
            extraction_jobs.c.started_at,
            extraction_jobs.c.runner,
        )
        .where(
            extraction_jobs.c.state.in_([JobState.PENDING.value, JobState.RUNNING.value]),
            extraction_jobs.c.created_at < created_before,
        )
        .order_by(extraction_jobs.c.created_at)
        .limit(1000)
    )
    return [dict(r._mapping) for r in rows]


async def lifetime(db: AsyncSession, job_id: uuid.UUID) -> tuple[datetime, datetime] | None:
    """When a finished job was created and when it finished; None while it is unfinished."""
    row = (
        await db.execute(
            select(extraction_jobs.c.created_at, extraction_jobs.c.finished_at).where(
                extraction_jobs.c.id == job_id
            )
        )
    ).first()
    if row is None or row.finished_at is None:
        return None
    return row.created_at, row.finished_at

"""SQL for extraction jobs and the messages they read."""

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.clauses import Owner
from memoire_core.db.repos.memories import views_by_ids
from memoire_core.db.repos.rows import from_row
from memoire_core.db.tables import extraction_jobs, messages, sessions, users
from memoire_core.domain import FactOutcome, FactResult, JobState, JobView, MemoryView, Role


@dataclass(frozen=True, slots=True)
class NewJob:
    """An extraction job about to be opened for an ingest window."""

    id: uuid.UUID
    user_id: uuid.UUID
    session_id: uuid.UUID
    message_ids: list[uuid.UUID]
    state: JobState
    reason: str = ""


def job_values(job: NewJob) -> dict[str, Any]:
    """The column values of a new job row (its fields are named after the columns)."""
    return {**asdict(job), "state": job.state.value}


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


def _unmatched_records(results: list[FactResult]) -> list[dict[str, str]]:
    """How a job keeps the retractions that matched nothing (its ``unmatched`` column)."""
    return [
        {"content": r.content, "slot": r.slot, "value": r.value, "reason": r.reason}
        for r in results
    ]


def _unmatched_results(records: list[dict[str, str]]) -> list[FactResult]:
    return [
        FactResult(
            FactOutcome.UNMATCHED,
            None,
            record.get("content", ""),
            record.get("slot", ""),
            record.get("value", ""),
            record.get("reason", ""),
        )
        for record in records
    ]


def job_view(row: Any, user_external_id: str, facts: list[MemoryView] | None = None) -> JobView:
    """The caller's view of an ``extraction_jobs`` row selected with ``JOB_VIEW``."""
    return from_row(
        JobView,
        row,
        user_external_id=user_external_id,
        state=JobState(row.state),
        message_ids=list(row.message_ids),
        facts=facts or [],
        unmatched=_unmatched_results(row.unmatched),
    )


# Jobs with their session's external id, as callers see them.
JOB_VIEW = select(
    *extraction_jobs.c,
    func.coalesce(sessions.c.external_id, "").label("session_external_id"),
).outerjoin(sessions, sessions.c.id == extraction_jobs.c.session_id)


async def get_job(db: AsyncSession, owner: Owner, job_id: uuid.UUID) -> JobView | None:
    """A job the owner may see, with the facts it produced that still exist."""
    row = (
        await db.execute(
            JOB_VIEW.add_columns(users.c.external_id.label("user_external_id"))
            .join(users, users.c.id == extraction_jobs.c.user_id)
            .where(extraction_jobs.c.id == job_id, owner.clause())
        )
    ).first()
    if row is None:
        return None
    facts = await views_by_ids(db, row.user_id, row.fact_ids)
    return job_view(row, row.user_external_id, [facts[f] for f in row.fact_ids if f in facts])


@dataclass(frozen=True, slots=True)
class Job:
    """What running an extraction job reads of it."""

    id: uuid.UUID
    user_id: uuid.UUID
    session_id: uuid.UUID
    state: JobState
    reason: str
    message_ids: list[uuid.UUID]


async def lock_job(db: AsyncSession, job_id: uuid.UUID) -> Job | None:
    """The job, locked until the transaction ends."""
    row = (
        await db.execute(
            select(
                extraction_jobs.c.id,
                extraction_jobs.c.user_id,
                extraction_jobs.c.session_id,
                extraction_jobs.c.state,
                extraction_jobs.c.reason,
                extraction_jobs.c.message_ids,
            )
            .where(extraction_jobs.c.id == job_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    return Job(
        row.id, row.user_id, row.session_id, JobState(row.state), row.reason, list(row.message_ids)
    )


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


class JobLifetime(NamedTuple):
    """When a finished job was created and when it finished, by the database's clock."""

    created_at: datetime
    finished_at: datetime


async def finish(
    db: AsyncSession,
    job_id: uuid.UUID,
    state: JobState,
    *,
    reason: str = "",
    fact_ids: list[uuid.UUID] | None = None,
    unmatched: list[FactResult] | None = None,
    model: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    latency_ms: float = 0.0,
) -> JobLifetime:
    """Put an existing job in a final state with what it produced and cost; returns its times."""
    row = (
        await db.execute(
            update(extraction_jobs)
            .where(extraction_jobs.c.id == job_id)
            .values(
                state=state.value,
                reason=reason,
                fact_ids=fact_ids or [],
                unmatched=_unmatched_records(unmatched or []),
                model=model,
                prompt_tokens=extraction_jobs.c.prompt_tokens + prompt_tokens,
                completion_tokens=extraction_jobs.c.completion_tokens + completion_tokens,
                llm_latency_ms=extraction_jobs.c.llm_latency_ms + round(latency_ms),
                finished_at=func.now(),
            )
            .returning(extraction_jobs.c.created_at, extraction_jobs.c.finished_at)
        )
    ).one()
    return JobLifetime(row.created_at, row.finished_at)


@dataclass(frozen=True, slots=True)
class WindowMessage:
    """A stored message as an extraction reads it."""

    id: uuid.UUID
    role: Role
    content: str
    said_at: datetime


_WINDOW_COLUMNS = (messages.c.id, messages.c.role, messages.c.content, messages.c.said_at)


def _window_message(row: Any) -> WindowMessage:
    return WindowMessage(row.id, Role(row.role), row.content, row.said_at)


async def window(
    db: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, up_to: datetime, size: int
) -> list[WindowMessage]:
    """The last ``size`` messages of a session said up to ``up_to``, oldest first."""
    rows = await db.execute(
        select(*_WINDOW_COLUMNS)
        .where(
            messages.c.user_id == user_id,
            messages.c.session_id == session_id,
            messages.c.said_at <= up_to,
        )
        .order_by(messages.c.said_at.desc(), messages.c.id.desc())
        .limit(size)
    )
    return [_window_message(r) for r in reversed(list(rows))]


async def messages_by_id(db: AsyncSession, ids: list[uuid.UUID]) -> list[WindowMessage]:
    """Messages with those ids, oldest first."""
    rows = await db.execute(
        select(*_WINDOW_COLUMNS)
        .where(messages.c.id.in_(ids))
        .order_by(messages.c.said_at, messages.c.id)
    )
    return [_window_message(r) for r in rows]


@dataclass(frozen=True, slots=True)
class UnfinishedJob:
    """A pending or running job, with when and where it last started."""

    id: uuid.UUID
    state: JobState
    started_at: datetime | None
    runner: str


async def unfinished(db: AsyncSession, created_before: datetime, limit: int) -> list[UnfinishedJob]:
    """The oldest ``limit`` pending or running jobs created before a time, oldest first."""
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
        .limit(limit)
    )
    return [UnfinishedJob(r.id, JobState(r.state), r.started_at, r.runner) for r in rows]

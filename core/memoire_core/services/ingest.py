"""Ingest: store messages verbatim, each as a searchable episode, and open an extraction job."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.config import Limits
from memoire_core.db.repos import accounts, jobs
from memoire_core.db.repos import messages as repo
from memoire_core.db.repos.jobs import NewJob
from memoire_core.db.repos.memories import NewMemory
from memoire_core.domain import (
    EPISODE_CONFIDENCE,
    EventType,
    IngestResult,
    JobState,
    Kind,
    MemoryEvent,
    MessageIn,
    UserRef,
)
from memoire_core.errors import Violations
from memoire_core.ids import new_id
from memoire_core.unit_of_work import ExtractionRequested, VectorsOwed, record
from memoire_core.validation import check_count, check_id, check_metadata, check_text

DEFAULT_SESSION = "default"
NO_LLM_REASON = "no LLM is configured (set MEMOIRE_LLM_MODEL); episodes still serve recall"


@dataclass(frozen=True)
class IngestCommand:
    """A validated request to ingest messages of one session."""

    session_external_id: str
    messages: list[MessageIn]
    skip_extraction: bool = False


def validate_ingest(
    session_external_id: str,
    messages: list[MessageIn],
    skip_extraction: bool,
    limits: Limits,
    v: Violations,
) -> IngestCommand:
    """Check every message and id; raise one INVALID_ARGUMENT listing every bad field.

    ``v`` may already hold violations the adapter found while decoding the request.
    """
    check_id(v, "session_id", session_external_id, limits, required=False)
    check_count(v, "messages", len(messages), limits.batch_size)
    seen: dict[str, int] = {}
    for i, message in enumerate(messages):
        path = f"messages[{i}]"
        check_text(v, f"{path}.content", message.content, limits.content_bytes)
        check_metadata(v, f"{path}.metadata", message.metadata, limits)
        if message.client_message_id is not None:
            check_id(
                v, f"{path}.client_message_id", message.client_message_id, limits, required=False
            )
            first = seen.setdefault(message.client_message_id, i)
            if first != i:
                v.add(f"{path}.client_message_id", f"repeats messages[{first}].client_message_id")
    v.raise_if_any()
    return IngestCommand(session_external_id or DEFAULT_SESSION, messages, skip_extraction)


async def ingest(
    db: AsyncSession,
    user: UserRef,
    command: IngestCommand,
    *,
    extraction_enabled: bool,
) -> IngestResult:
    """Store new messages and their episodes; re-sent client message ids change nothing."""
    session = await accounts.get_or_create_session(db, user.id, command.session_external_id)
    client_ids = [m.client_message_id for m in command.messages if m.client_message_id]
    known = await repo.find_messages_by_client_ids(db, user.id, client_ids)

    now = datetime.now(UTC)
    # The job id is chosen first so messages are stored already linked to it.
    job_id = None if command.skip_extraction else new_id()
    planned: list[repo.NewMessage] = []
    ids: list[uuid.UUID] = []
    for message in command.messages:
        if message.client_message_id in known:
            ids.append(known[message.client_message_id].id)
            continue
        mid = new_id()
        planned.append(repo.NewMessage(mid, message, message.said_at or now))
        ids.append(mid)

    inserted = await repo.insert_messages(db, user.id, session.id, job_id, planned)
    if len(inserted) < len(planned):
        # A concurrent request stored some of the same client ids first: answer with theirs.
        raced = await repo.find_messages_by_client_ids(db, user.id, client_ids)
        ids = [
            raced[m.client_message_id].id if m.client_message_id in raced else mid
            for mid, m in zip(ids, command.messages, strict=True)
        ]
        known = raced
    stored = [n for n in planned if n.id in inserted]

    duplicates = len(command.messages) - len(stored)
    if not stored:
        return await _result_for_duplicates(db, ids, command, known, duplicates)

    created_ids = [n.id for n in stored]
    state = JobState.PENDING if extraction_enabled else JobState.SKIPPED
    job = (
        None
        if job_id is None
        else NewJob(
            job_id,
            user.id,
            session.id,
            created_ids,
            state,
            "" if extraction_enabled else NO_LLM_REASON,
        )
    )
    await _store_episodes(db, user.id, session.id, stored, now, job)
    record(db, VectorsOwed())
    _request_extraction(db, job_id, state)
    if job_id is None:
        return IngestResult(ids, None, None, duplicates, created_ids)
    return IngestResult(ids, job_id, state, duplicates, created_ids)


async def _store_episodes(
    db: AsyncSession,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    stored: list[repo.NewMessage],
    now: datetime,
    job: NewJob | None,
) -> None:
    """The episodes of new messages, their CREATED events and the job, in one statement."""
    episodes: list[NewMemory] = []
    events: list[MemoryEvent] = []
    for new in stored:
        episode = NewMemory(
            id=new_id(),
            user_id=user_id,
            kind=Kind.EPISODE,
            content=new.message.content,
            confidence=EPISODE_CONFIDENCE,
            valid_from=new.said_at,
            last_refreshed_at=now,
            source_message_ids=(new.id,),
            session_id=session_id,
            message_id=new.id,
            role=new.message.role,
            metadata=new.message.metadata,
        )
        episodes.append(episode)
        events.append(
            MemoryEvent(
                user_id,
                episode.id,
                EventType.CREATED,
                f"{new.message.role.value} message ingested",
                confidence_after=EPISODE_CONFIDENCE,
            )
        )
    await repo.insert_episodes(db, episodes, events, job)


async def _result_for_duplicates(
    db: AsyncSession,
    ids: list[uuid.UUID],
    command: IngestCommand,
    known: dict[str, repo.KnownMessage],
    duplicates: int,
) -> IngestResult:
    """A fully re-sent batch answers with the job its first sending opened."""
    job_id = next(
        (
            found.extraction_id
            for m in command.messages
            if m.client_message_id
            and (found := known.get(m.client_message_id)) is not None
            and found.extraction_id
        ),
        None,
    )
    state = (await jobs.job_states(db, [job_id])).get(job_id) if job_id else None
    _request_extraction(db, job_id, state)
    return IngestResult(ids, job_id, state, duplicates, [])


def _request_extraction(db: AsyncSession, job_id: uuid.UUID | None, state: JobState | None) -> None:
    """Have a pending job queued once the ingest commits (again, for a re-sent batch)."""
    if job_id is not None and state is JobState.PENDING:
        record(db, ExtractionRequested(job_id))

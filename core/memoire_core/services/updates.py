"""What an extraction changed: its final state, the events it wrote and the facts now current."""

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos import events as repo
from memoire_core.db.repos.clauses import Owner
from memoire_core.domain import EventView, JobState, MemoryView, UserRef
from memoire_core.services import memories
from memoire_core.task_contract import FINAL_JOB_STATES


@dataclass(frozen=True)
class ExtractionUpdate:
    """An extraction as its watcher sees it; events and facts only once it is final."""

    state: JobState
    events: list[EventView] = field(default_factory=list)
    memories: list[MemoryView] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.state in FINAL_JOB_STATES


async def extraction_events(
    db: AsyncSession, user: UserRef, extraction_id: uuid.UUID
) -> list[EventView]:
    """The memory events the extraction wrote for the user, in the order they happened."""
    return await repo.events_of_extraction(db, user.id, extraction_id)


async def extraction_update(
    db: AsyncSession, owner: Owner, user: UserRef, extraction_id: uuid.UUID
) -> ExtractionUpdate:
    """The job's state; once final, with its events and the facts it left current.

    Raises NotFound when the job is gone (its user was forgotten) or the owner may not see it.
    """
    job = await memories.get_extraction(db, owner, str(extraction_id))
    if job.state not in FINAL_JOB_STATES:
        return ExtractionUpdate(job.state)
    events = await extraction_events(db, user, extraction_id)
    return ExtractionUpdate(job.state, events, [m for m in job.facts if m.current])

"""Reading and managing stored memories: get, list, delete, history, conscious, forget, jobs."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core import paging, prompt
from memoire_core.config import Limits
from memoire_core.db.repos import accounts, events, jobs
from memoire_core.db.repos import facts as facts_repo
from memoire_core.db.repos import memories as repo
from memoire_core.db.repos.clauses import Owner
from memoire_core.domain import EventType, EventView, JobView, MemoryEvent, MemoryView, UserRef
from memoire_core.errors import FieldViolation, InvalidArgument, NotFound
from memoire_core.ids import parse_id
from memoire_core.services import corrections
from memoire_core.slots import CORE_IDENTITY, SlotRegistry
from memoire_core.unit_of_work import FactsChanged, UserForgotten, record


def _memory_id(text: str) -> uuid.UUID:
    parsed = parse_id(text)
    if parsed is None:
        raise NotFound(f"memory {text!r} not found", reason="MEMORY_NOT_FOUND")
    return parsed


async def get_memory(db: AsyncSession, owner: Owner, memory_id: str) -> MemoryView:
    """One memory the owner may see; anything else is NOT_FOUND, so nothing leaks."""
    view = await repo.get_memory(db, owner, _memory_id(memory_id))
    if view is None:
        raise NotFound(f"memory {memory_id!r} not found", reason="MEMORY_NOT_FOUND")
    return view


@dataclass(frozen=True)
class Page:
    """One page of memories and the token for the next."""

    memories: list[MemoryView]
    next_token: str


async def list_memories(
    db: AsyncSession,
    user: UserRef | None,
    flt: repo.ListFilter,
    page_size: int,
    page_token: str,
    limits: Limits,
) -> Page:
    """A page of the user's memories, newest first."""
    after = _resume_after(page_token, limits)
    if user is None:
        return Page([], "")
    size = page_size or limits.default_page_size
    rows = await repo.list_memories(db, user.id, flt, after, size + 1)
    more = len(rows) > size
    rows = rows[:size]
    token = paging.encode(rows[-1].created_at, rows[-1].id) if more else ""
    return Page(rows, token)


def _resume_after(page_token: str, limits: Limits) -> tuple[datetime, uuid.UUID] | None:
    """The position a page token resumes after; INVALID_ARGUMENT for one not issued here."""
    refused = InvalidArgument([FieldViolation("page_token", "is not a token this API issued")])
    if len(page_token) > limits.page_cursor_chars:
        raise refused
    after = paging.decode(page_token)
    if after is not None:
        try:
            # Near year 1 or 9999, a time with a UTC offset has no UTC form to query with.
            after[0].astimezone(UTC)
        except OverflowError as error:
            raise refused from error
    return after


async def delete_memory(
    db: AsyncSession, owner: Owner, memory_id: str, actor: str, registry: SlotRegistry
) -> str:
    """Delete a memory as a correction; the log keeps a DELETED event that says who did it.

    What the memory alone had retired holds again (``corrections``). Returns the memory's id.
    """
    view = await get_memory(db, owner, memory_id)
    gone = NotFound(f"memory {memory_id!r} not found", reason="MEMORY_NOT_FOUND")
    user = await accounts.find_user(db, owner.app_id, view.user_external_id)
    if user is None:  # the user was forgotten since the memory was read
        raise gone
    # The event goes in first: it locks the user's row (as its foreign key) before the delete
    # locks the memory's, the order a concurrent ForgetUser takes them in, so the two calls
    # wait for each other instead of deadlocking.
    try:
        cause = f"deleted through the API by key {actor}"
        deleted = MemoryEvent(
            user.id, view.id, EventType.DELETED, cause, view.slot, confidence_before=view.confidence
        )
        await events.record_events(db, [deleted])
    except IntegrityError as error:  # ForgetUser took the user, and the memory, meanwhile
        raise gone from error
    await corrections.undo_retirements(db, user.id, view, registry)
    await repo.delete_memory(db, view.id)
    record(db, FactsChanged((user.id,)))
    return str(view.id)


async def history(
    db: AsyncSession,
    owner: Owner,
    memory_id: str,
    page_size: int,
    page_token: str,
    limits: Limits,
) -> tuple[list[EventView], str]:
    """The events that explain a memory, oldest first; a deleted memory keeps its history."""
    mid = _memory_id(memory_id)
    after = _resume_after(page_token, limits)
    user_id = await events.event_owner(db, owner, mid)
    if user_id is None:
        raise NotFound(f"memory {memory_id!r} not found", reason="MEMORY_NOT_FOUND")
    size = page_size or limits.default_history_page_size
    found = await events.history(db, user_id, mid, after, size + 1)
    more = len(found) > size
    found = found[:size]
    token = paging.encode(found[-1].created_at, found[-1].id) if more else ""
    return found, token


async def conscious(
    db: AsyncSession, user: UserRef | None, limit: int, limits: Limits
) -> tuple[list[MemoryView], str]:
    """The user's essentials and the prompt block rendered from them."""
    if user is None:
        return [], ""
    limit = limit or limits.default_conscious_limit
    found = await repo.conscious(db, user.id, CORE_IDENTITY, limit)
    # Plans are never current facts: the prompt lists them apart, and the memories leave them out.
    plans = await facts_repo.live_plans(db, user.id, list(CORE_IDENTITY), limits.prompt_plans)
    return found, prompt.render(found, plans=plans)


async def forget_user(db: AsyncSession, user: UserRef | None) -> accounts.Erased:
    """Erase every row of one user; forgetting an unknown user erases nothing."""
    if user is None:
        return accounts.Erased(0, 0)
    record(db, UserForgotten(user.id))
    return await accounts.delete_user(db, user.id)


async def get_extraction(db: AsyncSession, owner: Owner, extraction_id: str) -> JobView:
    """An extraction job the owner may see, with the facts it produced."""
    jid = parse_id(extraction_id)
    job = await jobs.get_job(db, owner, jid) if jid else None
    if job is None:
        raise NotFound(f"extraction {extraction_id!r} not found", reason="EXTRACTION_NOT_FOUND")
    return job

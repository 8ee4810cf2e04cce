"""SQL for the fact lifecycle: slot locks, live values, supersession, refresh, restoring,
idempotency."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, cast, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.clauses import live_clause, standing_in_slot
from memoire_core.db.repos.memories import MEMORY_VIEW, to_view
from memoire_core.db.tables import idempotent_writes, memories
from memoire_core.domain import Kind, MemoryView, Temporal


@dataclass(frozen=True, slots=True)
class SlotFact:
    """What the slot rules read of a stored fact."""

    id: uuid.UUID
    content: str
    value: str
    negated: bool
    confidence: float
    valid_from: datetime
    temporal: Temporal


_SLOT_FACT = select(
    memories.c.id,
    memories.c.content,
    memories.c.value,
    memories.c.negated,
    memories.c.confidence,
    memories.c.valid_from,
    memories.c.temporal_state,
)


async def _slot_facts(db: AsyncSession, stmt: Select[Any]) -> list[SlotFact]:
    """The facts ``stmt`` (built on ``_SLOT_FACT``) selects, locked until the transaction ends."""
    rows = await db.execute(stmt.with_for_update())
    return [
        SlotFact(
            r.id,
            r.content,
            r.value,
            r.negated,
            r.confidence,
            r.valid_from,
            Temporal(r.temporal_state),
        )
        for r in rows
    ]


async def lock_slot(db: AsyncSession, user_id: uuid.UUID, slot: str) -> None:
    """Serialise writers of one user's slot until the transaction ends."""
    await db.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"{user_id}:{slot}"},
    )


async def standing_facts(
    db: AsyncSession, user_id: uuid.UUID, slot: str, temporal: Temporal
) -> list[SlotFact]:
    """The facts of a slot in one temporal state that the slot rules weigh, oldest first."""
    return await _slot_facts(
        db,
        _SLOT_FACT.where(
            memories.c.user_id == user_id,
            memories.c.kind == Kind.FACT.value,
            memories.c.slot == slot,
            standing_in_slot(temporal),
        ).order_by(memories.c.created_at),
    )


async def _set(db: AsyncSession, memory_id: uuid.UUID, **values: Any) -> None:
    await db.execute(update(memories).where(memories.c.id == memory_id).values(**values))


async def supersede(
    db: AsyncSession,
    memory_id: uuid.UUID,
    by: uuid.UUID,
    *,
    at: datetime,
    valid_to: datetime,
) -> None:
    """Retire a fact in favour of another: it stopped holding at ``valid_to``."""
    await _set(
        db,
        memory_id,
        superseded_at=at,
        superseded_by=by,
        valid_to=func.greatest(memories.c.valid_from, valid_to),
    )


async def retired_by(db: AsyncSession, user_id: uuid.UUID, memory_id: uuid.UUID) -> list[SlotFact]:
    """The facts one memory superseded, newest first, locked until the transaction ends."""
    return await _slot_facts(
        db,
        _SLOT_FACT.where(
            memories.c.user_id == user_id, memories.c.superseded_by == memory_id
        ).order_by(memories.c.valid_from.desc(), memories.c.created_at.desc()),
    )


async def restore(db: AsyncSession, memory_id: uuid.UUID) -> None:
    """Make a superseded fact hold again, as if what replaced it had never been said."""
    await _set(db, memory_id, superseded_at=None, superseded_by=None, valid_to=None)


async def repoint(db: AsyncSession, memory_id: uuid.UUID, by: uuid.UUID) -> None:
    """Name another fact as the one that replaced this one (the first is being deleted)."""
    await _set(db, memory_id, superseded_by=by)


async def live_plans(
    db: AsyncSession, user_id: uuid.UUID, core_slots: list[str], limit: int
) -> list[MemoryView]:
    """Plans nothing has overtaken yet that Conscious serves: essential or of a core slot."""
    stmt = (
        MEMORY_VIEW.where(
            memories.c.user_id == user_id,
            memories.c.kind == Kind.FACT.value,
            memories.c.temporal_state == Temporal.PLANNED.value,
            live_clause(),
            or_(memories.c.essential, memories.c.slot.in_(core_slots)),
        )
        .order_by(memories.c.valid_from.desc())
        .limit(limit)
    )
    return [to_view(r) for r in await db.execute(stmt)]


async def end(db: AsyncSession, memory_id: uuid.UUID, *, valid_to: datetime) -> None:
    """Mark a fact as no longer holding in the world, with no successor."""
    await _set(db, memory_id, valid_to=func.greatest(memories.c.valid_from, valid_to))


async def refresh(
    db: AsyncSession,
    memory_id: uuid.UUID,
    *,
    confidence: float,
    at: datetime,
    essential: bool,
    source_message_ids: list[uuid.UUID],
) -> None:
    """Mark a fact as restated: new confidence, refresh time, and the messages that restated it."""
    await _set(
        db,
        memory_id,
        confidence=confidence,
        base_confidence=confidence,
        last_refreshed_at=at,
        essential=memories.c.essential | essential,
        source_message_ids=func.array_cat(
            memories.c.source_message_ids, cast(source_message_ids, ARRAY(UUID(as_uuid=True)))
        ),
    )


@dataclass(frozen=True, slots=True)
class EarlierResult:
    """What an earlier write with the same request id returned: the ids of the facts that
    hold its inputs, and a ``FactOutcome`` value per input (none if recorded before outcomes
    were kept)."""

    ids: list[uuid.UUID]
    outcomes: list[str]


async def idempotent_result(
    db: AsyncSession, user_id: uuid.UUID, method: str, request_id: str
) -> EarlierResult | None:
    """What an earlier write with this request id returned, if any."""
    row = (
        await db.execute(
            select(idempotent_writes.c.result_ids, idempotent_writes.c.outcomes).where(
                idempotent_writes.c.user_id == user_id,
                idempotent_writes.c.method == method,
                idempotent_writes.c.request_id == request_id,
            )
        )
    ).first()
    return EarlierResult(list(row.result_ids), list(row.outcomes)) if row else None


async def remember_result(
    db: AsyncSession,
    user_id: uuid.UUID,
    method: str,
    request_id: str,
    ids: Sequence[uuid.UUID],
    outcomes: Sequence[str],
) -> None:
    """Record what a write with this request id returned."""
    await db.execute(
        insert(idempotent_writes)
        .values(
            user_id=user_id,
            method=method,
            request_id=request_id,
            result_ids=list(ids),
            outcomes=list(outcomes),
        )
        .on_conflict_do_nothing()
    )

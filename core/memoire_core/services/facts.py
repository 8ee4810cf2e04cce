"""Writing facts: dedup by value, supersession by slot, an event for every change.

Used by AddMemories directly and by extraction; every path that writes a fact goes through
``apply_fact`` so the same rules hold wherever a fact comes from.
"""

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.config import Limits
from memoire_core.db.repos import facts as repo
from memoire_core.db.repos import memories as memories_repo
from memoire_core.domain import EventType, FactIn, Kind, MemoryView, Temporal, UserRef
from memoire_core.errors import Violations
from memoire_core.ids import new_id
from memoire_core.slots import Cardinality, SlotRegistry
from memoire_core.validation import check_count, check_id, check_metadata, check_slot, check_text

_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise_value(content: str) -> str:
    """The comparable form of a statement: case-folded words, punctuation dropped."""
    return " ".join(_NOT_WORD.sub(" ", content.casefold()).split())


def validate_facts(
    facts: list[FactIn], request_id: str, limits: Limits, v: Violations | None = None
) -> None:
    """Check every fact; raise one INVALID_ARGUMENT listing every bad field.

    ``v`` may already hold violations the adapter found while decoding the request.
    """
    v = v if v is not None else Violations()
    check_id(v, "request_id", request_id, limits, required=False)
    check_count(v, "facts", len(facts), limits.batch_size)
    for i, fact in enumerate(facts):
        path = f"facts[{i}]"
        check_text(v, f"{path}.content", fact.content, limits.fact_bytes)
        check_slot(v, f"{path}.slot", fact.slot)
        check_text(v, f"{path}.category", fact.category, 64, required=False)
        check_text(v, f"{path}.language", fact.language, 16, required=False)
        check_text(v, f"{path}.value", fact.value, 1024, required=False)
        check_metadata(v, f"{path}.metadata", fact.metadata, limits)
        if not 0.0 <= fact.confidence <= 1.0:
            v.add(f"{path}.confidence", "must be between 0 and 1")
    v.raise_if_any()


@dataclass(frozen=True)
class Applied:
    """The fact that now holds an input, and what happened to get there."""

    memory_id: uuid.UUID
    event: EventType


def same_value(existing: dict[str, Any], fact: FactIn) -> bool:
    """Whether a stored fact and a new one say the same thing (a restatement, not a change).

    When both name the slot's value ("Dallas"), the values decide; otherwise the statements.
    """
    if existing["value"] and fact.value:
        return normalise_value(existing["value"]) == normalise_value(fact.value)
    return normalise_value(existing["content"]) == normalise_value(fact.content)


async def apply_fact(
    db: AsyncSession,
    user: UserRef,
    fact: FactIn,
    registry: SlotRegistry,
    *,
    extraction_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
) -> Applied:
    """Store one fact under the slot rules of DESIGN.md; serialised per (user, slot)."""
    now = datetime.now(UTC)
    valid_from = fact.valid_from or now
    await repo.lock_slot(db, user.id, fact.slot)
    if fact.retract:
        retired = await _retract(db, user.id, fact, valid_from, extraction_id)
        if retired is not None:
            return Applied(retired, EventType.RETRACTED)
        # Nothing to take back: keep what was said as a fact about the past.
        fact = replace(fact, temporal=Temporal.PAST, retract=False)
    same_state = await repo.current_facts(db, user.id, fact.slot, fact.temporal)
    for existing in same_state:
        if same_value(existing, fact):
            await _refresh(db, user.id, existing, fact, now, extraction_id)
            return Applied(existing["id"], EventType.REFRESHED)

    new_memory_id = new_id()
    await memories_repo.insert_memories(
        db, [_fact_row(new_memory_id, user.id, fact, valid_from, now, session_id)]
    )
    events: list[dict[str, Any]] = [
        _event(
            user.id,
            new_memory_id,
            EventType.CREATED,
            _created_cause(fact),
            fact.slot,
            extraction_id,
            after=fact.confidence,
        )
    ]
    single = fact.slot and registry.cardinality(fact.slot) is Cardinality.SINGLE
    if fact.temporal is Temporal.CURRENT and single:
        events += await _replace_in_slot(
            db, user.id, new_memory_id, fact, valid_from, same_state, now, extraction_id
        )
    await memories_repo.insert_events(db, events)
    return Applied(new_memory_id, EventType.CREATED)


async def _retract(
    db: AsyncSession,
    user_id: uuid.UUID,
    fact: FactIn,
    valid_from: datetime,
    extraction_id: uuid.UUID | None,
) -> uuid.UUID | None:
    """End the current fact the user took back ("I no longer play chess"); its id, if any."""
    current = await repo.current_facts(db, user_id, fact.slot, Temporal.CURRENT)
    matching = [old for old in current if same_value(old, fact)]
    for old in matching:
        await repo.end(db, old["id"], valid_to=valid_from)
    await memories_repo.insert_events(
        db,
        [
            _event(
                user_id,
                old["id"],
                EventType.RETRACTED,
                f"the user said: {fact.content}",
                fact.slot,
                extraction_id,
                before=old["confidence"],
                after=old["confidence"],
            )
            for old in matching
        ],
    )
    return matching[0]["id"] if matching else None


async def _replace_in_slot(
    db: AsyncSession,
    user_id: uuid.UUID,
    new_memory_id: uuid.UUID,
    fact: FactIn,
    valid_from: datetime,
    current: list[dict[str, Any]],
    now: datetime,
    extraction_id: uuid.UUID | None,
) -> list[dict[str, Any]]:
    """Keep one current value in a single-valued slot; returns the events written."""
    later = [old for old in current if old["valid_from"] > valid_from]
    if later:
        # Told late about an older value: it is history, retired by the value that followed it.
        successor = min(later, key=lambda old: old["valid_from"])
        await repo.supersede(
            db, new_memory_id, successor["id"], at=now, valid_to=successor["valid_from"]
        )
        return [
            _event(
                user_id,
                new_memory_id,
                EventType.SUPERSEDED,
                f"a later value of {fact.slot} was already known",
                fact.slot,
                extraction_id,
                related=successor["id"],
                before=fact.confidence,
                after=fact.confidence,
            )
        ]
    events = []
    for old in current:
        await repo.supersede(db, old["id"], new_memory_id, at=now, valid_to=valid_from)
        events.append(
            _event(
                user_id,
                old["id"],
                EventType.SUPERSEDED,
                f"replaced by a newer value of {fact.slot}",
                fact.slot,
                extraction_id,
                related=new_memory_id,
                before=old["confidence"],
                after=old["confidence"],
            )
        )
    return events


async def add_facts(
    db: AsyncSession,
    user: UserRef,
    facts: list[FactIn],
    registry: SlotRegistry,
    request_id: str,
) -> list[MemoryView]:
    """AddMemories: apply each fact in order; a retried request_id returns the first answer."""
    if request_id:
        earlier = await repo.idempotent_result(db, user.id, "AddMemories", request_id)
        if earlier is not None:
            return await _views_in_order(db, user.id, earlier)
    ids = [(await apply_fact(db, user, fact, registry)).memory_id for fact in facts]
    if request_id:
        await repo.remember_result(db, user.id, "AddMemories", request_id, ids)
    return await _views_in_order(db, user.id, ids)


async def _views_in_order(
    db: AsyncSession, user_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[MemoryView]:
    views = await memories_repo.views_by_ids(db, user_id, ids)
    return [views[i] for i in ids if i in views]


async def _refresh(
    db: AsyncSession,
    user_id: uuid.UUID,
    existing: dict[str, Any],
    fact: FactIn,
    now: datetime,
    extraction_id: uuid.UUID | None,
) -> None:
    confidence = max(existing["confidence"], fact.confidence)
    await repo.refresh(
        db,
        existing["id"],
        confidence=confidence,
        at=now,
        essential=fact.essential,
        source_message_ids=list(fact.source_message_ids),
    )
    await memories_repo.insert_events(
        db,
        [
            _event(
                user_id,
                existing["id"],
                EventType.REFRESHED,
                "the same fact was stated again",
                fact.slot,
                extraction_id,
                before=existing["confidence"],
                after=confidence,
            )
        ],
    )


def _created_cause(fact: FactIn) -> str:
    origin = "extracted from messages" if fact.source_message_ids else "added directly"
    return f"{fact.temporal.value} fact {origin}"


def _fact_row(
    memory_id: uuid.UUID,
    user_id: uuid.UUID,
    fact: FactIn,
    valid_from: datetime,
    now: datetime,
    session_id: uuid.UUID | None,
) -> dict[str, Any]:
    return {
        "id": memory_id,
        "user_id": user_id,
        "kind": Kind.FACT.value,
        "content": fact.content,
        "category": fact.category,
        "slot": fact.slot,
        "temporal_state": fact.temporal.value,
        "confidence": fact.confidence,
        "base_confidence": fact.confidence,
        "value": fact.value,
        "essential": fact.essential,
        "language": fact.language,
        "source_message_ids": list(fact.source_message_ids),
        "session_id": session_id,
        "metadata": fact.metadata,
        "valid_from": valid_from,
        # A fact about the past stopped holding by the time it was told.
        "valid_to": valid_from if fact.temporal is Temporal.PAST else None,
        "last_refreshed_at": now,
    }


def _event(
    user_id: uuid.UUID,
    memory_id: uuid.UUID,
    kind: EventType,
    cause: str,
    slot: str,
    extraction_id: uuid.UUID | None,
    *,
    related: uuid.UUID | None = None,
    before: float | None = None,
    after: float | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "user_id": user_id,
        "memory_id": memory_id,
        "type": kind.value,
        "cause": cause,
        "slot": slot,
        "extraction_id": extraction_id,
        "related_memory_id": related,
        "confidence_before": before,
        "confidence_after": after,
    }

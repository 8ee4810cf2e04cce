"""Writing facts: dedup by value and polarity, supersession by slot, an event for every change.

Used by AddMemories directly and by extraction; every path that writes a fact goes through
``apply_fact`` so the same rules hold wherever a fact comes from.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.config import Limits
from memoire_core.db.repos import facts as repo
from memoire_core.db.repos import memories as memories_repo
from memoire_core.db.repos.events import record_events
from memoire_core.db.repos.facts import SlotFact
from memoire_core.domain import (
    EventType,
    FactIn,
    FactOutcome,
    FactResult,
    Kind,
    MemoryEvent,
    MemoryView,
    Temporal,
    UserRef,
)
from memoire_core.errors import Violations
from memoire_core.ids import new_id
from memoire_core.slots import Cardinality, SlotRegistry
from memoire_core.unit_of_work import FactsChanged, VectorsOwed, record
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
        check_slot(v, f"{path}.slot", fact.slot, limits)
        check_text(v, f"{path}.category", fact.category, limits.category_bytes, required=False)
        check_text(v, f"{path}.language", fact.language, limits.language_bytes, required=False)
        check_text(v, f"{path}.value", fact.value, limits.value_bytes, required=False)
        check_metadata(v, f"{path}.metadata", fact.metadata, limits)
        if not 0.0 <= fact.confidence <= 1.0:
            v.add(f"{path}.confidence", "must be between 0 and 1")
    v.raise_if_any()


@dataclass(frozen=True)
class Applied:
    """What writing one input did, and the fact that now holds it (none when unmatched)."""

    memory_id: uuid.UUID | None
    outcome: FactOutcome
    reason: str = ""

    def result(self, fact: FactIn) -> FactResult:
        """The caller's view of this outcome for the input ``fact``."""
        return FactResult(
            self.outcome, self.memory_id, fact.content, fact.slot, fact.value, self.reason
        )


def same_value(existing: SlotFact, fact: FactIn) -> bool:
    """Whether a stored fact and a new one are about the same value of their slot.

    When both name the slot's value ("Dallas"), the values decide; otherwise the statements.
    """
    if existing.value and fact.value:
        return normalise_value(existing.value) == normalise_value(fact.value)
    return normalise_value(existing.content) == normalise_value(fact.content)


def same_statement(existing: SlotFact, fact: FactIn) -> bool:
    """Whether a new fact restates a stored one: same value and same polarity."""
    return existing.negated == fact.negated and same_value(existing, fact)


def replaces(old: SlotFact, fact: FactIn, single: bool) -> bool:
    """Whether ``fact`` retires ``old``, a live fact of its slot in the same temporal state.

    A single-valued slot keeps one statement; any slot keeps one polarity per value, so a
    denial retires the claim it denies and a renewed claim retires the denial.
    """
    return single or (old.negated != fact.negated and same_value(old, fact))


def named_by(old: SlotFact, retraction: FactIn) -> bool:
    """Whether a retraction takes back ``old``: by value, or by naming its text.

    "No longer plays chess" with no value names "plays chess" (or a fact whose value is chess).
    """
    if retraction.value and old.value:
        return normalise_value(retraction.value) == normalise_value(old.value)
    said = normalise_value(retraction.value or retraction.content)
    for text in (old.value, old.content):
        stored = normalise_value(text)
        if stored and said and (_mentions(said, stored) or _mentions(stored, said)):
            return True
    return False


def _mentions(text: str, phrase: str) -> bool:
    return f" {phrase} " in f" {text} "


def is_single(registry: SlotRegistry, fact: FactIn) -> bool:
    """Whether the fact's slot holds one current value (a fact with no slot fills none)."""
    return bool(fact.slot) and (
        registry.cardinality(fact.slot, fact.cardinality) is Cardinality.SINGLE
    )


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
    write = _Write(user.id, new_id(), fact, valid_from, now, extraction_id)
    if fact.retract:
        return await _retract(db, write)
    same_state = await repo.standing_facts(db, user.id, fact.slot, fact.temporal)
    for existing in same_state:
        if same_statement(existing, fact):
            await _refresh(db, write, existing)
            return Applied(existing.id, FactOutcome.REFRESHED)

    await memories_repo.insert_memory(db, _new_fact(write, session_id))
    events = [
        write.event(write.memory_id, EventType.CREATED, _created_cause(fact), after=fact.confidence)
    ]
    if fact.temporal is not Temporal.PAST:
        single = is_single(registry, fact)
        rivals = [old for old in same_state if replaces(old, fact, single)]
        settled, still_live = await _replace_in_slot(db, write, rivals)
        events += settled
        if fact.temporal is Temporal.CURRENT and still_live and fact.slot:
            events += await _overtake_plans(db, write, single)
    await record_events(db, events)
    return Applied(write.memory_id, FactOutcome.CREATED)


@dataclass(frozen=True)
class _Write:
    """One fact being written: who, which new memory (if it makes one), when, and for which
    extraction."""

    user_id: uuid.UUID
    memory_id: uuid.UUID
    fact: FactIn
    valid_from: datetime
    now: datetime
    extraction_id: uuid.UUID | None

    def event(
        self,
        memory_id: uuid.UUID,
        kind: EventType,
        cause: str,
        *,
        related: uuid.UUID | None = None,
        before: float | None = None,
        after: float | None = None,
    ) -> MemoryEvent:
        """What this write did to ``memory_id``."""
        return MemoryEvent(
            self.user_id,
            memory_id,
            kind,
            cause,
            self.fact.slot,
            self.extraction_id,
            related_memory_id=related,
            confidence_before=before,
            confidence_after=after,
        )

    def retired(
        self, old: SlotFact, kind: EventType, cause: str, *, related: uuid.UUID | None = None
    ) -> MemoryEvent:
        """What this write did to an existing fact whose confidence it leaves as it was."""
        return self.event(
            old.id, kind, cause, related=related, before=old.confidence, after=old.confidence
        )


async def _retract(db: AsyncSession, write: _Write) -> Applied:
    """End the live facts the user took back ("I no longer play chess").

    A retraction that names nothing live stores nothing: keeping it as a fact would claim a
    change that never happened.
    """
    fact = write.fact
    state = _retracted_state(fact)
    live = await repo.standing_facts(db, write.user_id, fact.slot, state)
    matching = [old for old in live if named_by(old, fact)]
    if not matching:
        return Applied(None, FactOutcome.UNMATCHED, _unmatched_reason(fact, state))
    for old in matching:
        await repo.end(db, old.id, valid_to=write.valid_from)
    cause = f"the user said: {fact.content}"
    await record_events(db, [write.retired(old, EventType.RETRACTED, cause) for old in matching])
    return Applied(matching[0].id, FactOutcome.RETRACTED)


def _retracted_state(fact: FactIn) -> Temporal:
    """What a retraction takes back: "no longer planning to move" a plan, anything else a
    current fact."""
    return Temporal.PLANNED if fact.temporal is Temporal.PLANNED else Temporal.CURRENT


def _unmatched_reason(fact: FactIn, state: Temporal) -> str:
    where = f"slot {fact.slot}" if fact.slot else "facts without a slot"
    what = f"value {fact.value!r}" if fact.value else f"{fact.content!r}"
    return f"no {state.value} fact of {where} matches {what}; nothing was retracted"


async def _replace_in_slot(
    db: AsyncSession, write: _Write, rivals: list[SlotFact]
) -> tuple[list[MemoryEvent], bool]:
    """Retire the rivals of a new fact; returns the events and whether the new fact is live.

    A rival stated as holding from later than the new fact wins instead: the new fact was an
    older value told late, history retired by the value that followed it.
    """
    fact, slot = write.fact, write.fact.slot
    later = [old for old in rivals if old.valid_from > write.valid_from]
    if later:
        successor = min(later, key=lambda old: old.valid_from)
        await repo.supersede(
            db, write.memory_id, successor.id, at=write.now, valid_to=successor.valid_from
        )
        cause = f"a later value of {slot or 'this fact'} was already known"
        event = write.event(
            write.memory_id,
            EventType.SUPERSEDED,
            cause,
            related=successor.id,
            before=fact.confidence,
            after=fact.confidence,
        )
        return [event], False
    events = []
    for old in rivals:
        await repo.supersede(db, old.id, write.memory_id, at=write.now, valid_to=write.valid_from)
        cause = _replaced_cause(old, fact)
        events.append(write.retired(old, EventType.SUPERSEDED, cause, related=write.memory_id))
    return events, True


def _replaced_cause(old: SlotFact, fact: FactIn) -> str:
    slot = fact.slot or "this fact"
    if old.negated != fact.negated and same_value(old, fact):
        return f"contradicted by a newer statement of {slot}"
    return f"replaced by a newer value of {slot}"


async def _overtake_plans(db: AsyncSession, write: _Write, single: bool) -> list[MemoryEvent]:
    """Retire the plans a new current value overtakes: a plan says nothing once it came true
    or the slot moved on. Only plans made before the value started to hold are overtaken.
    """
    plans = await repo.standing_facts(db, write.user_id, write.fact.slot, Temporal.PLANNED)
    cause = f"the plan was overtaken: {write.fact.slot} now has a current value"
    events = []
    for plan in plans:
        if plan.valid_from > write.valid_from:
            continue
        if not (single or same_value(plan, write.fact)):
            continue
        await repo.supersede(db, plan.id, write.memory_id, at=write.now, valid_to=write.valid_from)
        events.append(write.retired(plan, EventType.SUPERSEDED, cause, related=write.memory_id))
    return events


@dataclass(frozen=True)
class Added:
    """AddMemories' answer: the facts that now hold the inputs, and what each input did."""

    memories: list[MemoryView]
    results: list[FactResult]


async def add_facts(
    db: AsyncSession,
    user: UserRef,
    facts: list[FactIn],
    registry: SlotRegistry,
    request_id: str,
) -> Added:
    """AddMemories: apply each fact in order; a retried request_id returns the first answer."""
    if request_id:
        earlier = await repo.idempotent_result(db, user.id, "AddMemories", request_id)
        if earlier is not None:
            return await _replay(db, user.id, facts, earlier)
    applied = [await apply_fact(db, user, fact, registry) for fact in facts]
    record(db, FactsChanged((user.id,)), VectorsOwed())
    ids = [a.memory_id for a in applied if a.memory_id is not None]
    if request_id:
        outcomes = [a.outcome.value for a in applied]
        await repo.remember_result(db, user.id, "AddMemories", request_id, ids, outcomes)
    results = [a.result(fact) for a, fact in zip(applied, facts, strict=True)]
    return Added(await _views_in_order(db, user.id, ids), results)


async def _replay(
    db: AsyncSession,
    user_id: uuid.UUID,
    facts: list[FactIn],
    earlier: repo.EarlierResult,
) -> Added:
    """The first answer to a retried request, rebuilt from the ids and outcomes it recorded."""
    views = await _views_in_order(db, user_id, earlier.ids)
    if len(earlier.outcomes) != len(facts):  # recorded before outcomes were kept
        return Added(views, [])
    remaining = iter(earlier.ids)
    results = []
    for outcome_text, fact in zip(earlier.outcomes, facts, strict=True):
        outcome = FactOutcome(outcome_text)
        if outcome is FactOutcome.UNMATCHED:
            reason = _unmatched_reason(fact, _retracted_state(fact))
            results.append(Applied(None, outcome, reason).result(fact))
        else:
            results.append(Applied(next(remaining), outcome).result(fact))
    return Added(views, results)


async def _views_in_order(
    db: AsyncSession, user_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[MemoryView]:
    views = await memories_repo.views_by_ids(db, user_id, ids)
    return [views[i] for i in ids if i in views]


async def _refresh(db: AsyncSession, write: _Write, existing: SlotFact) -> None:
    fact = write.fact
    confidence = max(existing.confidence, fact.confidence)
    await repo.refresh(
        db,
        existing.id,
        confidence=confidence,
        at=write.now,
        essential=fact.essential,
        source_message_ids=list(fact.source_message_ids),
    )
    cause = "the same fact was stated again"
    event = write.event(
        existing.id, EventType.REFRESHED, cause, before=existing.confidence, after=confidence
    )
    await record_events(db, [event])


def _created_cause(fact: FactIn) -> str:
    origin = "extracted from messages" if fact.source_message_ids else "added directly"
    return f"{fact.temporal.value} fact {origin}"


def _new_fact(write: _Write, session_id: uuid.UUID | None) -> memories_repo.NewMemory:
    fact = write.fact
    return memories_repo.NewMemory(
        id=write.memory_id,
        user_id=write.user_id,
        kind=Kind.FACT,
        content=fact.content,
        confidence=fact.confidence,
        valid_from=write.valid_from,
        last_refreshed_at=write.now,
        category=fact.category,
        slot=fact.slot,
        temporal=fact.temporal,
        value=fact.value,
        negated=fact.negated,
        essential=fact.essential,
        language=fact.language,
        source_message_ids=fact.source_message_ids,
        session_id=session_id,
        metadata=fact.metadata,
        # A fact about the past stopped holding by the time it was told.
        valid_to=write.valid_from if fact.temporal is Temporal.PAST else None,
    )

"""Deleting a fact as a correction: what it alone had retired holds again, no pointer dangles.

DeleteMemory calls ``undo_retirements`` before the row goes. Each fact the deleted one had
superseded is replayed as if the deleted fact had never been said: it stays retired when
another fact would have retired it anyway (it then names that one), and holds again otherwise.
"""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos import facts as repo
from memoire_core.db.repos.events import record_events
from memoire_core.db.repos.facts import SlotFact
from memoire_core.domain import EventType, FactIn, MemoryEvent, MemoryView, Temporal
from memoire_core.services.facts import is_single, same_value
from memoire_core.slots import SlotRegistry


async def undo_retirements(
    db: AsyncSession, user_id: uuid.UUID, deleted: MemoryView, registry: SlotRegistry
) -> None:
    """Restore or re-point every fact ``deleted`` superseded; the caller then deletes it."""
    await repo.lock_slot(db, user_id, deleted.slot)
    events = []
    for old in await repo.retired_by(db, user_id, deleted.id):
        replacement = deleted.superseded_by or await _would_retire(
            db, user_id, deleted, old, registry
        )
        if replacement is None:
            await repo.restore(db, old.id)
            kind, related, cause = EventType.RESTORED, deleted.id, _RESTORED
        else:
            await repo.repoint(db, old.id, replacement)
            kind, related, cause = EventType.SUPERSEDED, replacement, _REPOINTED
        events.append(
            MemoryEvent(
                user_id,
                old.id,
                kind,
                cause,
                deleted.slot,
                related_memory_id=related,
                confidence_before=old.confidence,
                confidence_after=old.confidence,
            )
        )
    await record_events(db, events)


_RESTORED = "holds again: the fact that replaced it was deleted as a mistake"
_REPOINTED = "the fact that replaced it was deleted; this one replaces it too"


async def _would_retire(
    db: AsyncSession,
    user_id: uuid.UUID,
    deleted: MemoryView,
    old: SlotFact,
    registry: SlotRegistry,
) -> uuid.UUID | None:
    """The newest live fact that retires ``old`` under the slot rules, ignoring ``deleted``."""
    as_fact = FactIn(content=old.content, slot=deleted.slot, value=old.value)
    single = is_single(registry, as_fact)
    state = old.temporal
    # A plan is overtaken by a current value; anything else competes within its own state.
    competing = Temporal.CURRENT if state is Temporal.PLANNED else state
    live = await repo.standing_facts(db, user_id, deleted.slot, competing)
    blockers = [
        f
        for f in live
        if f.id != deleted.id
        and (single or same_value(f, as_fact))
        and (state is not Temporal.PLANNED or f.valid_from >= old.valid_from)
    ]
    return max(blockers, key=lambda f: f.valid_from).id if blockers else None

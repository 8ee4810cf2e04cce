"""SQL for decay and optimisation, set-based so a run over a million facts is one statement."""

import uuid
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.clauses import as_sql, current_clause, live_clause
from memoire_core.db.tables import memories
from memoire_core.domain import Kind

# Current values of single-valued slots and essential facts keep a floor; everything else may
# fade towards zero. The new confidence depends only on the base and the refresh time, so a
# second run computes the same numbers and, below the threshold, writes nothing.
DECAY = text(
    f"""
    WITH target AS (
        SELECT id, user_id, slot, confidence AS before,
               GREATEST(
                   CASE WHEN {as_sql(live_clause())}
                             AND (essential OR slot = ANY(:single)
                                  OR slot LIKE ANY(:single_prefixes))
                        THEN LEAST(base_confidence, :floor) ELSE 0 END,
                   base_confidence * power(
                       0.5,
                       EXTRACT(EPOCH FROM (now() - last_refreshed_at)) / 86400.0 / :half_life
                   )
               ) AS after
        FROM memories
        WHERE kind = 'fact'
    ), changed AS (
        UPDATE memories m SET confidence = t.after
        FROM target t
        WHERE m.id = t.id AND abs(t.before - t.after) >= :threshold
        RETURNING m.id, m.user_id, m.slot, t.before, t.after
    )
    INSERT INTO memory_events
        (id, user_id, memory_id, type, cause, slot, confidence_before, confidence_after)
    SELECT gen_random_uuid(), user_id, id, 'decayed',
           'confidence fades while a fact is not restated', slot, before, after
    FROM changed
    RETURNING user_id
    """  # noqa: S608 - formatted with our own constant clause, never with input
)

# Promotion never demotes a fact a caller marked essential while it still holds; a fact that
# stopped holding loses the flag.
PROMOTE = text(
    f"""
    WITH wanted AS (
        SELECT id, user_id, slot, essential AS was,
               ({as_sql(current_clause())}
                AND (essential OR id = ANY(:chosen)
                     OR (:heuristic AND confidence >= :min_confidence
                         AND (slot = ANY(:core) OR slot LIKE 'preference.%'
                              OR category IN ('identity', 'preference'))))) AS want
        FROM memories
        WHERE kind = 'fact' AND user_id = ANY(:users)
    ), changed AS (
        UPDATE memories m SET essential = w.want
        FROM wanted w
        WHERE m.id = w.id AND m.essential <> w.want
        RETURNING m.id, m.user_id, m.slot, w.want
    )
    INSERT INTO memory_events (id, user_id, memory_id, type, cause, slot)
    SELECT gen_random_uuid(), user_id, id,
           CASE WHEN want THEN 'promoted' ELSE 'demoted' END,
           CASE WHEN want THEN :why ELSE 'no longer holds' END, slot
    FROM changed
    RETURNING user_id
    """  # noqa: S608 - formatted with our own constant clause, never with input
)


async def decay(
    db: AsyncSession,
    *,
    single: list[str],
    single_prefixes: list[str],
    floor: float,
    half_life_days: float,
    threshold: float,
) -> list[uuid.UUID]:
    """Recompute every fact's confidence from its base; returns the user of each change.

    A change smaller than ``threshold`` is not written (nor logged).
    """
    result = await db.execute(
        DECAY,
        {
            "single": single,
            "single_prefixes": single_prefixes,
            "floor": floor,
            "half_life": half_life_days,
            "threshold": threshold,
        },
    )
    return [r[0] for r in result]


async def users_with_facts_since(db: AsyncSession, hours: float) -> list[uuid.UUID]:
    """Users whose facts were written or restated in the last ``hours``."""
    rows = await db.execute(
        text(
            "SELECT DISTINCT user_id FROM memories WHERE kind = 'fact' "
            "AND last_refreshed_at > now() - make_interval(secs => :secs)"
        ),
        {"secs": hours * 3600},
    )
    return [r[0] for r in rows]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A current fact the optimisation model may choose as essential."""

    id: uuid.UUID
    content: str
    slot: str


async def essential_candidates(db: AsyncSession, user_id: uuid.UUID, limit: int) -> list[Candidate]:
    """A user's facts that hold now, most believed first."""
    rows = await db.execute(
        select(memories.c.id, memories.c.content, memories.c.slot)
        .where(memories.c.user_id == user_id, memories.c.kind == Kind.FACT.value, current_clause())
        .order_by(memories.c.confidence.desc())
        .limit(limit)
    )
    return [Candidate(r.id, r.content, r.slot) for r in rows]


async def promote(
    db: AsyncSession,
    users: list[uuid.UUID],
    *,
    chosen: list[uuid.UUID],
    heuristic: bool,
    core: list[str],
    min_confidence: float,
    why: str,
) -> list[uuid.UUID]:
    """Set the essential flag as wanted for these users' facts; returns the user of each change."""
    result = await db.execute(
        PROMOTE,
        {
            "users": users,
            "chosen": chosen,
            "heuristic": heuristic,
            "core": core,
            "min_confidence": min_confidence,
            "why": why,
        },
    )
    return [r[0] for r in result]

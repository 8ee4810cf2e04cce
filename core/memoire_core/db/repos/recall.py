"""SQL for hybrid recall: three candidate rankings of one user's memories in one round trip."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from pgvector.sqlalchemy import HALFVEC
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.memories import current_clause
from memoire_core.db.tables import memories, memory_embeddings
from memoire_core.domain import Kind
from memoire_core.embedding import Vector

VECTOR, FULL_TEXT, TRIGRAM = "vector", "full_text", "trigram"
# Trigram similarity below this is noise for natural-language questions.
TRIGRAM_FLOOR = 0.2


@dataclass(frozen=True)
class Filters:
    """Recall filters, already resolved to internal ids."""

    kinds: frozenset[Kind] = frozenset()
    categories: frozenset[str] = frozenset()
    current_only: bool = False
    as_of: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    session_id: uuid.UUID | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.kinds:
            out.append(memories.c.kind.in_([k.value for k in self.kinds]))
        if self.categories:
            out.append(memories.c.category.in_(list(self.categories)))
        if self.current_only:
            out.append(current_clause())
        if self.as_of is not None:
            out.append(memories.c.valid_from <= self.as_of)
            out.append(or_(memories.c.valid_to.is_(None), memories.c.valid_to > self.as_of))
        if self.start is not None:
            out.append(memories.c.valid_from >= self.start)
        if self.end is not None:
            out.append(memories.c.valid_from < self.end)
        if self.session_id is not None:
            out.append(memories.c.session_id == self.session_id)
        return out


@dataclass(frozen=True)
class Candidate:
    """One memory proposed by one ranking, with its raw score (rows come best first)."""

    memory_id: uuid.UUID
    source: str
    score: float


def vector_ranking(
    user_id: uuid.UUID,
    query_vector: Vector,
    model: str,
    dimensions: int,
    where: list[ColumnElement[bool]],
    limit: int,
) -> Select[tuple[uuid.UUID, str, float]]:
    """The nearest memories by cosine distance of one model's vectors."""
    # The cast matches the expression of the model's partial HNSW index, so it can serve this.
    distance = cast(memory_embeddings.c.embedding, HALFVEC(dimensions)).cosine_distance(
        cast(query_vector, HALFVEC(dimensions))
    )
    return (
        select(memories.c.id, literal(VECTOR).label("source"), (1 - distance).label("score"))
        .select_from(
            memory_embeddings.join(memories, memories.c.id == memory_embeddings.c.memory_id)
        )
        .where(
            and_(memory_embeddings.c.user_id == user_id, memory_embeddings.c.model == model),
            *where,
        )
        .order_by(distance)
        .limit(limit)
    )


async def candidates(
    db: AsyncSession,
    user_id: uuid.UUID,
    query: str,
    query_vector: Vector | None,
    model: str,
    dimensions: int,
    filters: Filters,
    per_ranking: int,
) -> list[Candidate]:
    """Up to ``per_ranking`` candidates from each of vector, full-text and trigram ranking."""
    where = [memories.c.user_id == user_id, *filters.clauses()]

    tsquery = cast(
        func.replace(cast(func.plainto_tsquery("english", query), Text), " & ", " | "), TSQUERY
    )
    rank = func.ts_rank_cd(memories.c.content_tsv, tsquery)
    full_text = (
        select(memories.c.id, literal(FULL_TEXT).label("source"), rank.label("score"))
        .where(*where, memories.c.content_tsv.op("@@")(tsquery))
        .order_by(rank.desc())
        .limit(per_ranking)
    )
    similarity = func.word_similarity(query, memories.c.content)
    trigram = (
        select(memories.c.id, literal(TRIGRAM).label("source"), similarity.label("score"))
        .where(*where, similarity > TRIGRAM_FLOOR)
        .order_by(similarity.desc())
        .limit(per_ranking)
    )
    arms = [full_text.subquery(), trigram.subquery()]
    if query_vector is not None:
        vector = vector_ranking(user_id, query_vector, model, dimensions, where, per_ranking)
        arms.insert(0, vector.subquery())
    stmt = union_all(*(select(arm.c.id, arm.c.source, arm.c.score) for arm in arms))
    rows = await db.execute(stmt)
    return [Candidate(r.id, r.source, float(r.score)) for r in rows]

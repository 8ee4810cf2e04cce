"""SQL for hybrid recall: three candidate rankings of one user's memories in one round trip,
and the conversational neighbours of the best episodes."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from pgvector.sqlalchemy import HALFVEC
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Text,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.memories import current_clause
from memoire_core.db.tables import memories, memory_embeddings, messages
from memoire_core.domain import Kind
from memoire_core.embedding import Vector

VECTOR, FULL_TEXT, TRIGRAM = "vector", "full_text", "trigram"
# Trigram similarity below this is noise for natural-language questions.
TRIGRAM_FLOOR = 0.2
# Okapi BM25 constants of the full-text ranking (the usual ones).
BM25_K1 = 1.2
BM25_B = 0.75


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


def bm25_ranking(
    query: str, where: list[ColumnElement[bool]], limit: int
) -> Select[tuple[uuid.UUID, str, float]]:
    """Memories holding any of the query's lexemes, by Okapi BM25 over the filtered memories.

    Term and document frequencies come from the stored ``content_tsv`` (English stemming and
    stop words), so a word most memories share (a name, "like") weighs little and a rare one
    decides; the statistics are the user's own, computed at query time.
    """
    # OR of the query's lexemes: plainto_tsquery quotes them; its ANDs and phrase links become ORs.
    any_lexeme = cast(
        func.regexp_replace(
            cast(func.plainto_tsquery("english", query), Text), r" (&|<->|<\d+>) ", " | ", "g"
        ),
        TSQUERY,
    )
    # A subquery, so the query is parsed once and not again for every stored lexeme.
    lexemes = select(func.unnest(func.tsvector_to_array(func.to_tsvector("english", query))))
    stored = func.unnest(memories.c.content_tsv).table_valued(
        "lexeme", "positions", joins_implicitly=True
    )
    matched = (
        select(
            memories.c.id,
            cast(func.length(memories.c.content_tsv), Float).label("length"),
            stored.c.lexeme,
            cast(func.coalesce(func.array_length(stored.c.positions, 1), 1), Float).label("tf"),
        )
        .select_from(memories, stored)
        .where(
            *where,
            memories.c.content_tsv.op("@@")(any_lexeme),
            stored.c.lexeme.in_(lexemes),
        )
        .cte("bm25_matched")
    )
    # Every memory holding a lexeme matches the OR query, so this is its document frequency.
    df = (
        select(matched.c.lexeme, cast(func.count(), Float).label("df"))
        .group_by(matched.c.lexeme)
        .cte("bm25_df")
    )
    corpus = (
        select(
            cast(func.count(), Float).label("n"),
            cast(func.avg(func.length(memories.c.content_tsv)), Float).label("average"),
        )
        .where(*where)
        .cte("bm25_corpus")
    )
    idf = func.ln(1 + (corpus.c.n - df.c.df + 0.5) / (df.c.df + 0.5))
    norm = BM25_K1 * (1 - BM25_B + BM25_B * matched.c.length / corpus.c.average)
    score = func.sum(idf * matched.c.tf * (BM25_K1 + 1) / (matched.c.tf + norm)).label("score")
    return (
        select(matched.c.id, literal(FULL_TEXT).label("source"), score)
        .select_from(matched.join(df, df.c.lexeme == matched.c.lexeme).join(corpus, true()))
        .group_by(matched.c.id)
        .order_by(score.desc())
        .limit(limit)
    )


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

    full_text = bm25_ranking(query, where, per_ranking)
    # OFFSET 0 keeps the subquery from being flattened, so word_similarity (the dearest part of
    # recall) runs once per memory instead of once in the filter and again in the sort.
    similar = (
        select(memories.c.id, func.word_similarity(query, memories.c.content).label("score"))
        .where(*where)
        .offset(0)
        .subquery("similar")
    )
    trigram = (
        select(similar.c.id, literal(TRIGRAM).label("source"), similar.c.score)
        .where(similar.c.score > TRIGRAM_FLOOR)
        .order_by(similar.c.score.desc())
        .limit(per_ranking)
    )
    arms = [full_text.subquery(), trigram.subquery()]
    if query_vector is not None:
        vector = vector_ranking(user_id, query_vector, model, dimensions, where, per_ranking)
        arms.insert(0, vector.subquery())
    stmt = union_all(*(select(arm.c.id, arm.c.source, arm.c.score) for arm in arms))
    rows = await db.execute(stmt)
    return [Candidate(r.id, r.source, float(r.score)) for r in rows]


@dataclass(frozen=True)
class Neighbour:
    """An episode said right before (``after_anchor`` False) or after an anchor episode."""

    anchor_id: uuid.UUID
    memory_id: uuid.UUID
    after_anchor: bool


# Built once: aliasing a table proxies all of its columns, which is slow to repeat per call.
_anchor = memories.alias("anchor")
_said = messages.alias("said")
_later = messages.alias("later")
_earlier = messages.alias("earlier")


def _adjacent(user_id: uuid.UUID, after: bool) -> Select[uuid.UUID]:
    """The message said right after (or before) the anchor's, in the same session."""
    other = _later if after else _earlier
    here, there = tuple_(_said.c.said_at, _said.c.id), tuple_(other.c.said_at, other.c.id)
    return (
        select(other.c.id)
        .where(
            other.c.user_id == user_id,
            other.c.session_id == _said.c.session_id,
            # The plain comparison lets the (user, session, said_at) index bound the scan.
            other.c.said_at >= _said.c.said_at if after else other.c.said_at <= _said.c.said_at,
            there > here if after else there < here,
        )
        .order_by(
            *(other.c.said_at, other.c.id) if after else (other.c.said_at.desc(), other.c.id.desc())
        )
        .limit(1)
    )


async def neighbours(
    db: AsyncSession, user_id: uuid.UUID, anchor_ids: list[uuid.UUID], filters: Filters
) -> list[Neighbour]:
    """The episodes of the messages said just before and just after each anchor episode's
    message in its session (order: ``said_at``, then id), when they pass the filters."""
    if not anchor_ids:
        return []
    where = [memories.c.user_id == user_id, *filters.clauses()]

    def side(after: bool) -> Select[uuid.UUID, uuid.UUID, bool]:
        step = _adjacent(user_id, after).lateral("next_message" if after else "previous_message")
        return (
            select(_anchor.c.id, memories.c.id, literal(after).label("after_anchor"))
            .select_from(
                _anchor.join(_said, _said.c.id == _anchor.c.message_id)
                .join(step, true())
                .join(memories, memories.c.message_id == step.c.id)
            )
            .where(_anchor.c.user_id == user_id, _anchor.c.id.in_(anchor_ids), *where)
        )

    rows = await db.execute(union_all(side(True), side(False)))
    return [Neighbour(anchor_id, memory_id, bool(after)) for anchor_id, memory_id, after in rows]

"""SQL for hybrid recall: three candidate rankings of one user's memories in one round trip,
and the conversational neighbours of the best episodes.

No ranking reads every memory of the user, so a Recall costs about the same for a user with
a hundred memories and one with ten thousand:

- full text reads only the memories holding a query lexeme, through a GIN index whose keys
  are the user's own lexemes (``memoire_user_lexemes``: each lexeme prefixed with a digest of
  the user id), so its posting lists are one user's, not the whole table's;
- the vector ranking reads the user's vectors through the user-leading index and ranks them
  exactly up to ``EXACT_VECTOR_MAX`` memories; past that, and where an HNSW index exists, the
  model's HNSW index serves it with pgvector's iterative scan;
- trigram similarity, the dearest per row, scores only the candidates the other two found:
  it breaks near-ties (a name spelt differently, a word the stemmer splits), it never finds.
"""

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pgvector.sqlalchemy import HALFVEC
from sqlalchemy import (
    CTE,
    ColumnElement,
    CompoundSelect,
    DateTime,
    Float,
    Select,
    String,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.repos.clauses import current_clause
from memoire_core.db.tables import memories, memory_embeddings, messages
from memoire_core.domain import Kind, RecallQuery
from memoire_core.ports import Vector

VECTOR, FULL_TEXT, TRIGRAM = "vector", "full_text", "trigram"
# Trigram similarity below this is noise for natural-language questions.
TRIGRAM_FLOOR = 0.2
# Up to this many memories a user's vectors are ranked exactly (measured in bench/README.md:
# the exact scan stays within a few milliseconds); past it, an HNSW index serves when present.
EXACT_VECTOR_MAX = 20_000
# Candidates of each ranking whose trigram similarity is measured (the best ones).
TRIGRAM_POOL = 20
# Okapi BM25 constants of the full-text ranking (the usual ones).
BM25_K1 = 1.2
BM25_B = 0.75


def filter_shape(query: RecallQuery) -> tuple[bool, ...]:
    """Which filters a query sets: statements are built once per shape, values bound later."""
    return (
        bool(query.kinds),
        bool(query.categories),
        query.current_only,
        query.as_of is not None,
        query.start is not None,
        query.end is not None,
        query.session_id is not None,
    )


def filter_params(query: RecallQuery) -> dict[str, Any]:
    """The bound values of ``filter_clauses(filter_shape(query))``."""
    values = {
        "f_kinds": sorted(k.value for k in query.kinds),
        "f_categories": sorted(query.categories),
        "f_as_of": query.as_of,
        "f_start": query.start,
        "f_end": query.end,
        "f_session_id": query.session_id,
    }
    return {k: v for k, v in values.items() if v}


def filter_clauses(shape: tuple[bool, ...]) -> list[ColumnElement[bool]]:
    """The clauses of the filters a shape sets, with their values as bound parameters."""
    kinds, categories, current_only, as_of, start, end, session = shape
    when = DateTime(timezone=True)
    out: list[ColumnElement[bool]] = []
    if kinds:
        out.append(memories.c.kind.in_(bindparam("f_kinds", expanding=True)))
    if categories:
        out.append(memories.c.category.in_(bindparam("f_categories", expanding=True)))
    if current_only:
        out.append(current_clause())
    if as_of:
        at = bindparam("f_as_of", type_=when)
        out.append(memories.c.valid_from <= at)
        out.append(or_(memories.c.valid_to.is_(None), memories.c.valid_to > at))
    if start:
        out.append(memories.c.valid_from >= bindparam("f_start", type_=when))
    if end:
        out.append(memories.c.valid_from < bindparam("f_end", type_=when))
    if session:
        out.append(memories.c.session_id == bindparam("f_session_id", type_=UUID(as_uuid=True)))
    return out


@dataclass(frozen=True)
class Candidate:
    """One memory proposed by one ranking, with its raw score (rows come best first)."""

    memory_id: uuid.UUID
    source: str
    score: float


@dataclass(frozen=True)
class Standing:
    """What weighing a memory needs: belief in it, whether it holds now, when it was true."""

    confidence: float
    current: bool
    valid_from: datetime
    last_refreshed_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class Found:
    """The candidates of every ranking, and the standing of each memory they name."""

    candidates: list[Candidate]
    standing: dict[uuid.UUID, Standing]


def _standing_columns() -> list[ColumnElement[Any]]:
    return [
        memories.c.confidence,
        current_clause().label("current"),
        memories.c.valid_from,
        memories.c.last_refreshed_at,
        memories.c.created_at,
    ]


def _standing(row: Any) -> Standing:
    return Standing(
        row.confidence, bool(row.current), row.valid_from, row.last_refreshed_at, row.created_at
    )


@dataclass(frozen=True)
class CorpusStats:
    """How many memories a user holds and their mean length in lexemes (BM25's statistics)."""

    memories: int
    average_length: float


async def corpus_stats(db: AsyncSession, user_id: uuid.UUID) -> CorpusStats:
    """The user's BM25 statistics; they read every memory, so callers keep them a while."""
    row = (await db.execute(_CORPUS_STATS, {"user_id": user_id})).one()
    return CorpusStats(int(row.n), float(row.average or 1.0))


_CORPUS_STATS = select(
    func.count().label("n"), func.avg(func.length(memories.c.content_tsv)).label("average")
).where(memories.c.user_id == bindparam("user_id", type_=UUID(as_uuid=True)))


def user_lexemes(user_id: ColumnElement[uuid.UUID], tsv: ColumnElement[Any]) -> ColumnElement[Any]:
    """The lexemes of ``tsv`` as keys of ``user_id``'s own: the expression of the GIN index."""
    return func.memoire_user_lexemes(user_id, tsv, type_=ARRAY(Text))


def bm25_ranking(
    user_id: ColumnElement[uuid.UUID],
    query: ColumnElement[str],
    where: list[ColumnElement[bool]],
    limit: int,
) -> Select[tuple[uuid.UUID, str, float]]:
    """Memories holding any of the query's lexemes, by Okapi BM25 over the user's memories.

    Term and document frequencies come from the stored ``content_tsv`` (English stemming and
    stop words), so a word most memories share (a name, "like") weighs little and a rare one
    decides. Document frequencies are counted among the matches; the corpus size and mean
    length are the bound parameters ``n`` and ``average_length`` (``CorpusStats``).
    """
    query_tsv = func.to_tsvector("english", query)
    hits = (
        select(memories.c.id, memories.c.content_tsv)
        .where(
            user_lexemes(memories.c.user_id, memories.c.content_tsv).op("&&")(
                user_lexemes(user_id, query_tsv)
            ),
            *where,
        )
        .cte("bm25_hits")
    )
    lexemes = select(func.unnest(func.tsvector_to_array(query_tsv)))
    stored = func.unnest(hits.c.content_tsv).table_valued(
        "lexeme", "positions", joins_implicitly=True
    )
    matched = (
        select(
            hits.c.id,
            cast(func.length(hits.c.content_tsv), Float).label("length"),
            stored.c.lexeme,
            cast(func.coalesce(func.array_length(stored.c.positions, 1), 1), Float).label("tf"),
        )
        .select_from(hits, stored)
        .where(stored.c.lexeme.in_(lexemes))
        .cte("bm25_matched")
    )
    df = (
        select(matched.c.lexeme, cast(func.count(), Float).label("df"))
        .group_by(matched.c.lexeme)
        .cte("bm25_df")
    )
    n = func.greatest(bindparam("n", type_=Float), df.c.df)
    idf = func.ln(1 + (n - df.c.df + 0.5) / (df.c.df + 0.5))
    average = bindparam("average_length", type_=Float)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * matched.c.length / average)
    score = func.sum(idf * matched.c.tf * (BM25_K1 + 1) / (matched.c.tf + norm)).label("score")
    return (
        select(matched.c.id, literal(FULL_TEXT).label("source"), score)
        .select_from(matched.join(df, df.c.lexeme == matched.c.lexeme))
        .group_by(matched.c.id)
        .order_by(score.desc())
        .limit(limit)
    )


def trigram_scores(
    query: ColumnElement[str], pool: CTE, user_id: ColumnElement[uuid.UUID]
) -> Select[tuple[uuid.UUID, str, float]]:
    """Trigram word similarity of the pooled candidates to the query, above a noise floor."""
    score = func.word_similarity(query, memories.c.content)
    return (
        select(memories.c.id, literal(TRIGRAM).label("source"), score.label("score"))
        .where(memories.c.id.in_(select(pool.c.id)), memories.c.user_id == user_id)
        .where(score > TRIGRAM_FLOOR)
    )


def vector_ranking(
    user_id: uuid.UUID | ColumnElement[uuid.UUID],
    query_vector: Vector | ColumnElement[Any],
    model: str | ColumnElement[str],
    dimensions: int,
    where: list[ColumnElement[bool]],
    limit: int,
    *,
    exact: bool = False,
) -> Select[tuple[uuid.UUID, str, float]]:
    """The nearest memories by cosine distance of one model's vectors.

    ``exact`` ranks every vector of the user read through the user-leading index; otherwise
    the expression matches the model's partial HNSW index, so that can serve the ordering.
    """
    distance = cast(memory_embeddings.c.embedding, HALFVEC(dimensions)).cosine_distance(
        cast(query_vector, HALFVEC(dimensions))
    )
    # "+ 0" is no longer the index's ordering operator, so the planner cannot pick HNSW (whose
    # filtered scan may return fewer than ``limit`` of a small user's memories).
    ordering = distance + 0 if exact else distance
    return (
        select(memories.c.id, literal(VECTOR).label("source"), (1 - distance).label("score"))
        .select_from(
            memory_embeddings.join(memories, memories.c.id == memory_embeddings.c.memory_id)
        )
        .where(
            and_(memory_embeddings.c.user_id == user_id, memory_embeddings.c.model == model),
            *where,
        )
        .order_by(ordering)
        .limit(limit)
    )


@functools.lru_cache(maxsize=128)
def _candidates_template(
    shape: tuple[bool, ...], dimensions: int | None, exact_vector: bool, per_ranking: int
) -> Select[Any]:
    """The rankings' statement for one filter shape, its values left as bound parameters.

    Building this expression tree costs more Python time than Postgres takes to run it, so
    it is built once per shape and reused (SQLAlchemy then reuses its compiled form too).
    """
    user_id = bindparam("user_id", type_=UUID(as_uuid=True))
    query = bindparam("query", type_=Text)
    where = [memories.c.user_id == user_id, *filter_clauses(shape)]
    arms = [bm25_ranking(user_id, query, where, per_ranking).cte("full_text")]
    if dimensions is not None:
        vector = bindparam("query_vector", type_=HALFVEC(dimensions))
        model = bindparam("model", type_=String)
        arms.append(
            vector_ranking(
                user_id, vector, model, dimensions, where, per_ranking, exact=exact_vector
            ).cte("vector")
        )
    # Trigram similarity breaks ties near the top; scoring the best of each ranking is enough.
    pool = union(
        *(select(arm.c.id).order_by(arm.c.score.desc()).limit(TRIGRAM_POOL) for arm in arms)
    ).cte("pool")
    ranked = union_all(
        *(select(arm.c.id, arm.c.source, arm.c.score) for arm in arms),
        trigram_scores(query, pool, user_id),
    ).subquery("ranked")
    return select(ranked.c.id, ranked.c.source, ranked.c.score, *_standing_columns()).join_from(
        ranked, memories, and_(memories.c.id == ranked.c.id, memories.c.user_id == user_id)
    )


class Statement(NamedTuple):
    """A statement and the values of its bound parameters."""

    select: Select[Any]
    params: dict[str, Any]


def candidates_statement(
    user_id: uuid.UUID,
    query: RecallQuery,
    query_vector: Vector | None,
    model: str,
    dimensions: int,
    per_ranking: int,
    stats: CorpusStats | None = None,
    *,
    exact_vector: bool = True,
) -> Statement:
    """The vector, full-text and trigram rankings of one user's memories that pass the query's
    filters, each row with the standing of its memory: the statement and its parameters.

    Without ``stats`` the statement costs the same but weighs lexemes as if the corpus were
    its matches alone (for measuring it, not for ranking).
    """
    stats = stats or CorpusStats(0, 1.0)
    stmt = _candidates_template(
        filter_shape(query),
        dimensions if query_vector is not None else None,
        exact_vector,
        per_ranking,
    )
    params = {
        "user_id": user_id,
        "query": query.text,
        "n": float(stats.memories),
        "average_length": max(1.0, stats.average_length),
        **filter_params(query),
    }
    if query_vector is not None:
        params.update(query_vector=query_vector, model=model)
    return Statement(stmt, params)


async def candidates(db: AsyncSession, statement: Statement) -> Found:
    """The candidates a ``candidates_statement`` ranks: up to ``per_ranking`` from each of
    vector and full-text ranking, and the trigram similarity of those candidates."""
    rows = (await db.execute(statement.select, statement.params)).all()
    return Found(
        [Candidate(r.id, r.source, float(r.score)) for r in rows],
        {r.id: _standing(r) for r in rows},
    )


@dataclass(frozen=True)
class Neighbour:
    """An episode said right before (``after_anchor`` False) or after an anchor episode."""

    anchor_id: uuid.UUID
    memory_id: uuid.UUID
    after_anchor: bool
    standing: Standing


# Built once: aliasing a table proxies all of its columns, which is slow to repeat per call.
_anchor = memories.alias("anchor")
_said = messages.alias("said")
_later = messages.alias("later")
_earlier = messages.alias("earlier")


def _adjacent(user_id: ColumnElement[uuid.UUID], after: bool) -> Select[uuid.UUID]:
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


@functools.lru_cache(maxsize=128)
def _neighbours_template(shape: tuple[bool, ...]) -> CompoundSelect[Any]:
    """The neighbours' statement for one filter shape, values left as bound parameters."""
    user_id = bindparam("user_id", type_=UUID(as_uuid=True))
    anchor_ids = bindparam("anchor_ids", expanding=True, type_=UUID(as_uuid=True))
    where = [memories.c.user_id == user_id, *filter_clauses(shape)]

    def side(after: bool) -> Select[Any]:
        step = _adjacent(user_id, after).lateral("next_message" if after else "previous_message")
        return (
            select(
                _anchor.c.id.label("anchor_id"),
                memories.c.id,
                literal(after).label("after_anchor"),
                *_standing_columns(),
            )
            .select_from(
                _anchor.join(_said, _said.c.id == _anchor.c.message_id)
                .join(step, true())
                .join(memories, memories.c.message_id == step.c.id)
            )
            .where(_anchor.c.user_id == user_id, _anchor.c.id.in_(anchor_ids), *where)
        )

    return union_all(side(True), side(False))


async def neighbours(
    db: AsyncSession, user_id: uuid.UUID, anchor_ids: list[uuid.UUID], query: RecallQuery
) -> list[Neighbour]:
    """The episodes of the messages said just before and just after each anchor episode's
    message in its session (order: ``said_at``, then id), when they pass the query's filters."""
    if not anchor_ids:
        return []
    params = {"user_id": user_id, "anchor_ids": anchor_ids, **filter_params(query)}
    rows = await db.execute(_neighbours_template(filter_shape(query)), params)
    return [Neighbour(r.anchor_id, r.id, bool(r.after_anchor), _standing(r)) for r in rows]


# The user's latest messages whose said times are compared (ingest order and said order differ
# only when a batch or an import is out of order).
LATEST_SAID_POOL = 20

_RECENT = (
    select(memories.c.valid_from)
    .where(
        memories.c.user_id == bindparam("user_id", type_=UUID(as_uuid=True)),
        memories.c.kind == Kind.EPISODE.value,
    )
    .order_by(memories.c.created_at.desc(), memories.c.id.desc())
    .limit(LATEST_SAID_POOL)
    .subquery("recent")
)
_LATEST_SAID = select(func.max(_RECENT.c.valid_from))


async def latest_said_at(db: AsyncSession, user_id: uuid.UUID) -> datetime | None:
    """When the user's conversation last spoke: the latest said time among the episodes stored
    last, read through the user's (created_at, id) index, never every memory of the user."""
    value = (await db.execute(_LATEST_SAID, {"user_id": user_id})).scalar_one()
    return value if isinstance(value, datetime) else None

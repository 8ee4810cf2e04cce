"""Recall: fuse vector, full-text and trigram rankings, lift the turns around the best episodes,
and weigh by confidence and recency."""

import logging
import math
import time
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.config import Limits
from memoire_core.db.repos import accounts
from memoire_core.db.repos import memories as memories_repo
from memoire_core.db.repos import recall as repo
from memoire_core.domain import Hit, RecallQuery, Score, UserRef
from memoire_core.embedding import Embedder, Vector
from memoire_core.errors import Violations
from memoire_core.validation import check_id, check_limit, check_text

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 10
# A fact that no longer holds still answers "where did I live?", but ranks below one that does.
NOT_CURRENT_WEIGHT = 0.7

# How much each ranking counts. Full text (BM25) is the sharpest signal on conversational
# memories; small-model cosines are compressed (top 1 and top 50 typically differ by ~0.05),
# so the vector ranking counts by rank and less; trigram similarity only breaks near-ties.
WEIGHTS = {repo.VECTOR: 0.3, repo.FULL_TEXT: 0.65, repo.TRIGRAM: 0.05}
# Rankings whose scores mean something across memories (BM25 and trigram have a natural zero):
# their items count in proportion to their score, the best one like rank 1 of the others.
BY_SCORE = frozenset({repo.FULL_TEXT, repo.TRIGRAM})
# A turn of a conversation is often relevant through the one before it (the answer to a
# relevant question) or after it: the best episodes lift their neighbours in the session.
CONTEXT_ANCHORS = 20
AFTER_ANCHOR_WEIGHT = 0.5  # a turn said right after a relevant one
BEFORE_ANCHOR_WEIGHT = 0.3  # a turn said right before a relevant one
# A lifted neighbour stays just below the episode that lifted it.
CONTEXT_CAP = 0.99


@dataclass(frozen=True)
class Ranking:
    """Tuning of the fusion, from settings."""

    per_ranking: int = 50
    rrf_k: int = 60
    recency_half_life_days: float = 180.0
    # Whether the models' HNSW indexes exist (``MEMOIRE_VECTOR_INDEX=hnsw``).
    vector_index: bool = False


class CorpusStatsCache:
    """Each user's BM25 statistics, kept a while: counting them reads every memory of the user.

    They age with the corpus: a user of a hundred memories is counted again after a second,
    one of ten thousand after a minute, so a growing history is never weighed as a tiny one
    for long and a large one costs one count a minute. Least recently used users go first.
    """

    def __init__(self, max_users: int = 10_000, max_age_seconds: float = 60.0) -> None:
        self._entries: OrderedDict[uuid.UUID, tuple[float, repo.CorpusStats]] = OrderedDict()
        self._max_users = max_users
        self._max_age = max_age_seconds

    async def get(self, db: AsyncSession, user_id: uuid.UUID) -> repo.CorpusStats:
        """The user's statistics, counted again once they are too old."""
        now = time.monotonic()
        entry = self._entries.get(user_id)
        if entry is not None and now - entry[0] < self._age_limit(entry[1]):
            self._entries.move_to_end(user_id)
            return entry[1]
        stats = await repo.corpus_stats(db, user_id)
        self._entries[user_id] = (now, stats)
        self._entries.move_to_end(user_id)
        while len(self._entries) > self._max_users:
            self._entries.popitem(last=False)
        return stats

    def _age_limit(self, stats: repo.CorpusStats) -> float:
        return min(self._max_age, max(1.0, stats.memories / 100))


def validate_recall(query: RecallQuery, limits: Limits) -> RecallQuery:
    """Check a recall query and fill in its default limit."""
    v = Violations()
    check_text(v, "query", query.text, limits.query_bytes)
    check_limit(v, "limit", query.limit, limits.recall_limit)
    if query.session_external_id:
        check_id(v, "session_id", query.session_external_id, limits, required=False)
    if query.start and query.end and query.start >= query.end:
        v.add("end_time", "must be after start_time")
    for category in query.categories:
        check_text(v, "categories", category, 64)
    v.raise_if_any()
    if query.limit == 0:
        return RecallQuery(**{**query.__dict__, "limit": DEFAULT_LIMIT})
    return query


async def embed_query(embedder: Embedder | None, text: str) -> Vector | None:
    """The query's vector; None (keyword ranking only) when the embedder fails."""
    if embedder is None:
        return None
    try:
        return await embedder.embed_query(text)
    except Exception:
        log.exception("query embedding failed; recalling with keyword rankings only")
        return None


async def recall(
    db: AsyncSession,
    user: UserRef,
    query: RecallQuery,
    query_vector: Vector | None,
    embedder: Embedder | None,
    ranking: Ranking,
    stats_cache: CorpusStatsCache | None = None,
) -> list[Hit]:
    """The user's memories most relevant to the query, best first.

    ``stats_cache`` keeps the user's BM25 statistics between calls; without one they are
    counted for this call.
    """
    session_id = None
    if query.session_external_id:
        session_id = await accounts.find_session(db, user.id, query.session_external_id)
        if session_id is None:
            return []
    filters = repo.Filters(
        kinds=query.kinds,
        categories=query.categories,
        current_only=query.current_only,
        as_of=query.as_of,
        start=query.start,
        end=query.end,
        session_id=session_id,
    )
    stats = await (stats_cache or CorpusStatsCache()).get(db, user.id)
    found = await repo.candidates(
        db,
        user.id,
        query.text,
        query_vector,
        embedder.model if embedder else "",
        embedder.dimensions if embedder else 0,
        filters,
        ranking.per_ranking,
        stats,
        exact_vector=not ranking.vector_index or stats.memories <= repo.EXACT_VECTOR_MAX,
    )
    partial = fuse(found.candidates, ranking.rrf_k, WEIGHTS, BY_SCORE)
    anchors = sorted(partial, key=lambda mid: -partial[mid].fused)[:CONTEXT_ANCHORS]
    near = await repo.neighbours(db, user.id, anchors, filters)
    partial = lift_neighbours(partial, near)
    standing = {**found.standing, **{n.memory_id: n.standing for n in near}}
    now = datetime.now(UTC)
    weighed = {
        mid: weigh(score, standing[mid], now, ranking.recency_half_life_days)
        for mid, score in partial.items()
        if mid in standing
    }
    best = sorted(
        weighed, key=lambda mid: (-weighed[mid].final, -standing[mid].created_at.timestamp())
    )[: query.limit]
    # Only the memories returned are read in full.
    views = await memories_repo.views_by_ids(db, user.id, best)
    return [Hit(views[mid], weighed[mid]) for mid in best if mid in views]


def fuse(
    found: list[repo.Candidate],
    rrf_k: int,
    weights: dict[str, float] | None = None,
    by_score: frozenset[str] = frozenset(),
) -> dict[uuid.UUID, Score]:
    """Weighted reciprocal-rank fusion: each ranking adds ``weight / (k + rank)`` for every
    memory it proposes; a ranking in ``by_score`` adds ``weight * score / best / (k + 1)``
    instead, so its best item counts like a rank 1 and the others in proportion to their score.
    Without weights and ``by_score`` this is plain RRF."""
    by_source: dict[str, list[repo.Candidate]] = defaultdict(list)
    for candidate in found:
        by_source[candidate.source].append(candidate)
    raw: dict[uuid.UUID, dict[str, float]] = defaultdict(dict)
    fused: dict[uuid.UUID, float] = defaultdict(float)
    for source, items in by_source.items():
        weight = 1.0 if weights is None else weights.get(source, 0.0)
        items.sort(key=lambda c: -c.score)
        best = items[0].score
        for rank, candidate in enumerate(items, start=1):
            raw[candidate.memory_id][source] = candidate.score
            if source in by_score:
                share = candidate.score / best if best > 0 else 0.0
                fused[candidate.memory_id] += weight * share / (rrf_k + 1)
            else:
                fused[candidate.memory_id] += weight / (rrf_k + rank)
    return {
        mid: Score(
            vector=raw[mid].get(repo.VECTOR, 0.0),
            full_text=raw[mid].get(repo.FULL_TEXT, 0.0),
            trigram=raw[mid].get(repo.TRIGRAM, 0.0),
            fused=fused[mid],
        )
        for mid in fused
    }


def lift_neighbours(
    scores: dict[uuid.UUID, Score], neighbours: list[repo.Neighbour]
) -> dict[uuid.UUID, Score]:
    """Add to each neighbour a share of its anchors' fused scores, never lifting it past them.

    A neighbour found by no ranking joins the candidates with the lifted score alone.
    """
    lift: dict[uuid.UUID, float] = defaultdict(float)
    cap: dict[uuid.UUID, float] = defaultdict(float)
    for n in neighbours:
        anchor = scores[n.anchor_id].fused
        lift[n.memory_id] += anchor * (
            AFTER_ANCHOR_WEIGHT if n.after_anchor else BEFORE_ANCHOR_WEIGHT
        )
        cap[n.memory_id] = max(cap[n.memory_id], anchor * CONTEXT_CAP)
    out = dict(scores)
    for mid, extra in lift.items():
        own = scores[mid] if mid in scores else Score()
        fused = max(own.fused, min(own.fused + extra, cap[mid]))
        out[mid] = replace(own, fused=fused)
    return out


class Weighable(Protocol):
    """What weighing reads of a memory (a ``MemoryView`` or a ranking's ``Standing``)."""

    @property
    def confidence(self) -> float: ...
    @property
    def current(self) -> bool: ...
    @property
    def valid_from(self) -> datetime: ...
    @property
    def last_refreshed_at(self) -> datetime: ...


def weigh(score: Score, memory: Weighable, now: datetime, half_life_days: float) -> Score:
    """Scale the fused score by belief in the memory and by how recently it held."""
    confidence_weight = 0.5 + 0.5 * memory.confidence
    if not memory.current:
        confidence_weight *= NOT_CURRENT_WEIGHT
    freshest = max(memory.valid_from, memory.last_refreshed_at)
    age_days = max(0.0, (now - freshest).total_seconds() / 86_400)
    recency_weight = 0.8 + 0.2 * math.pow(0.5, age_days / half_life_days)
    return Score(
        vector=score.vector,
        full_text=score.full_text,
        trigram=score.trigram,
        fused=score.fused,
        confidence_weight=confidence_weight,
        recency_weight=recency_weight,
        final=score.fused * confidence_weight * recency_weight,
    )

"""Recall: fuse vector, full-text and trigram rankings, weighted by confidence and recency."""

import logging
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.config import Limits
from memoire_core.db.repos import accounts
from memoire_core.db.repos import memories as memories_repo
from memoire_core.db.repos import recall as repo
from memoire_core.domain import Hit, MemoryView, RecallQuery, Score, UserRef
from memoire_core.embedding import Embedder, Vector
from memoire_core.errors import Violations
from memoire_core.validation import check_id, check_limit, check_text

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 10
# A fact that no longer holds still answers "where did I live?", but ranks below one that does.
NOT_CURRENT_WEIGHT = 0.7


@dataclass(frozen=True)
class Ranking:
    """Tuning of the fusion, from settings."""

    per_ranking: int = 50
    rrf_k: int = 60
    recency_half_life_days: float = 180.0


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
) -> list[Hit]:
    """The user's memories most relevant to the query, best first."""
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
    found = await repo.candidates(
        db,
        user.id,
        query.text,
        query_vector,
        embedder.model if embedder else "",
        embedder.dimensions if embedder else 0,
        filters,
        ranking.per_ranking,
    )
    partial = fuse(found, ranking.rrf_k)
    views = await memories_repo.views_by_ids(db, user.id, list(partial))
    now = datetime.now(UTC)
    hits = [
        Hit(view, weigh(partial[mid], view, now, ranking.recency_half_life_days))
        for mid, view in views.items()
    ]
    hits.sort(key=lambda h: (-h.score.final, -h.memory.created_at.timestamp()))
    return hits[: query.limit]


def fuse(found: list[repo.Candidate], rrf_k: int) -> dict[uuid.UUID, Score]:
    """Reciprocal-rank fusion: each ranking adds 1 / (k + rank) for every memory it proposes."""
    by_source: dict[str, list[repo.Candidate]] = defaultdict(list)
    for candidate in found:
        by_source[candidate.source].append(candidate)
    raw: dict[uuid.UUID, dict[str, float]] = defaultdict(dict)
    fused: dict[uuid.UUID, float] = defaultdict(float)
    for source, items in by_source.items():
        items.sort(key=lambda c: -c.score)
        for rank, candidate in enumerate(items, start=1):
            raw[candidate.memory_id][source] = candidate.score
            fused[candidate.memory_id] += 1.0 / (rrf_k + rank)
    return {
        mid: Score(
            vector=raw[mid].get(repo.VECTOR, 0.0),
            full_text=raw[mid].get(repo.FULL_TEXT, 0.0),
            trigram=raw[mid].get(repo.TRIGRAM, 0.0),
            fused=fused[mid],
        )
        for mid in fused
    }


def weigh(score: Score, memory: MemoryView, now: datetime, half_life_days: float) -> Score:
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

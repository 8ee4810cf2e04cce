"""Recall: fuse vector, full-text and trigram rankings, lift the turns around the best episodes,
weigh by confidence, recency and a period the query names, and rank statements above questions,
acknowledgements and repeats."""

import logging
import math
import re
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.config import Limits
from memoire_core.db.repos import accounts
from memoire_core.db.repos import memories as memories_repo
from memoire_core.db.repos import recall as repo
from memoire_core.domain import (
    Hit,
    Kind,
    MemoryView,
    RecallQuery,
    Role,
    Score,
    UserRef,
)
from memoire_core.errors import Violations
from memoire_core.ports import Embedder, Vector
from memoire_core.services import temporal
from memoire_core.validation import check_id, check_limit, check_text

log = logging.getLogger(__name__)

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

# What the user stated answers a question better than chatter around it. These weights are
# the values the leave-one-conversation-out report of ``memoire eval locomo`` picks in most
# folds (bench/README.md): the share of an episode that asks a question weighs this much less
# (a question the user once asked answers nothing);
QUESTION_WEIGHT = 0.6
# a period the query names ("on 9 November, 2022", "last week") weighs memories said outside
# it down by up to this much, with a weight of its own when the query asks about that period
# alone ("in May 2023"; the grid tries 1.0, a near filter, and prefers 0.5).
PERIOD_WEIGHT = 0.5
STRICT_PERIOD_WEIGHT = 0.5
# Not measurable on LoCoMo (every turn there is a user's): an assistant's "Got it, thanks"
# and an earlier asking of the very query say nothing new, so they keep half their weight.
ACKNOWLEDGEMENT_WEIGHT = 0.5
ECHO_WEIGHT = 0.5
# Candidates whose text is read to weigh chatter and drop repeats, per hit asked for.
REREAD_FACTOR = 3


@dataclass(frozen=True)
class Ranking:
    """Tuning of the fusion, from settings."""

    per_ranking: int = 50
    rrf_k: int = 60
    recency_half_life_days: float = 180.0
    # Whether the models' HNSW indexes exist (``MEMOIRE_VECTOR_INDEX=hnsw``).
    vector_index: bool = False
    question_weight: float = QUESTION_WEIGHT
    period_weight: float = PERIOD_WEIGHT
    strict_period_weight: float = STRICT_PERIOD_WEIGHT


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
        check_text(v, "categories", category, limits.category_bytes)
    v.raise_if_any()
    if query.limit == 0:
        return replace(query, limit=limits.default_recall_limit)
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
    if query.session_external_id:
        session_id = await accounts.find_session(db, user.id, query.session_external_id)
        if session_id is None:
            return []
        query = replace(query, session_id=session_id)
    stats = await (stats_cache or CorpusStatsCache()).get(db, user.id)

    async def candidates(where: RecallQuery) -> repo.Found:
        statement = ranking_statement(user.id, where, query_vector, embedder, ranking, stats)
        return await repo.candidates(db, statement)

    found = await candidates(query)
    period = await query_period(db, user.id, query.text)
    # A period the query names also gets candidates of its own: what was said then may rank
    # below the best 50 of the whole history, and would never be weighed. Same statement
    # with a time filter, so the same indexes serve it.
    within = period_filters(query, period, ranking)
    if within is not None:
        found = merge(found, await candidates(within))
    partial = fuse(found.candidates, ranking.rrf_k, WEIGHTS, BY_SCORE)
    anchors = sorted(partial, key=lambda mid: -partial[mid].fused)[:CONTEXT_ANCHORS]
    near = await repo.neighbours(db, user.id, anchors, query)
    partial = lift_neighbours(partial, near)
    standing = {**found.standing, **{n.memory_id: n.standing for n in near}}
    standing = {mid: standing[mid] for mid in partial if mid in standing}
    timing = period_weights(period, ranking, standing.values())
    now = datetime.now(UTC)
    weighed = {
        mid: weigh(score, standing[mid], now, ranking.recency_half_life_days, timing)
        for mid, score in partial.items()
        if mid in standing
    }
    best = sorted(
        weighed, key=lambda mid: (-weighed[mid].final, -standing[mid].created_at.timestamp())
    )[: query.limit * REREAD_FACTOR]
    # Only the best memories are read in full: enough to weigh their text and drop repeats.
    views = await memories_repo.views_by_ids(db, user.id, best)
    hits = [Hit(views[mid], weighed[mid]) for mid in best if mid in views]
    return prefer_statements(query.text, hits, ranking.question_weight)[: query.limit]


def ranking_statement(
    user_id: uuid.UUID,
    query: RecallQuery,
    query_vector: Vector | None,
    embedder: Embedder | None,
    ranking: Ranking,
    stats: repo.CorpusStats,
) -> repo.Statement:
    """The statement that ranks Recall's candidates for this user and query, with the
    settings' choice of exact or indexed vector ranking."""
    return repo.candidates_statement(
        user_id,
        query,
        query_vector,
        embedder.model if embedder else "",
        embedder.dimensions if embedder else 0,
        ranking.per_ranking,
        stats,
        exact_vector=not ranking.vector_index or stats.memories <= repo.EXACT_VECTOR_MAX,
    )


async def query_period(db: AsyncSession, user_id: uuid.UUID, text: str) -> temporal.Period | None:
    """The period the query names, relative phrases read from the user's latest message (the
    conversation's "now"; today's date for a user with none)."""
    mention = temporal.find(text)
    if mention is None:
        return None
    reference = datetime.now(UTC)
    if mention.relative:
        reference = await repo.latest_said_at(db, user_id) or reference
    return mention.resolve(reference)


def period_filters(
    query: RecallQuery, period: temporal.Period | None, ranking: Ranking
) -> RecallQuery | None:
    """The query narrowed to the period's window (told shortly after included); None when
    the period is not weighed at all or the narrowing leaves no time."""
    if period is None or _period_weight(period, ranking) <= 0:
        return None
    start = max(filter(None, (query.start, period.start)))
    end = min(filter(None, (query.end, period.told_by)))
    return replace(query, start=start, end=end) if start < end else None


def merge(whole: repo.Found, narrowed: repo.Found) -> repo.Found:
    """The whole history's candidates and those only a narrowed ranking found.

    A narrowed full-text ranking counts document frequencies among fewer matches, so its
    scores run higher than the whole history's: one a narrowed ranking alone found ranked
    below the whole history's last, so its score is capped at that last one's.
    """
    seen = {(c.memory_id, c.source) for c in whole.candidates}
    floor = min((c.score for c in whole.candidates if c.source == repo.FULL_TEXT), default=0.0)
    extra = [
        replace(c, score=min(c.score, floor)) if c.source == repo.FULL_TEXT else c
        for c in narrowed.candidates
        if (c.memory_id, c.source) not in seen
    ]
    return repo.Found([*whole.candidates, *extra], {**narrowed.standing, **whole.standing})


def _period_weight(period: temporal.Period, ranking: Ranking) -> float:
    return ranking.strict_period_weight if period.strict else ranking.period_weight


@dataclass(frozen=True)
class Timing:
    """How a named period weighs memories by when they were said."""

    period: temporal.Period
    weight: float


def period_weights(
    period: temporal.Period | None, ranking: Ranking, candidates: Iterable[Weighable]
) -> Timing | None:
    """The period's weighing, or None when it says nothing: no period, a zero weight, or no
    candidate said in it (then a date the user never spoke on would only favour the memories
    nearest to it, for no reason)."""
    if period is None:
        return None
    weight = _period_weight(period, ranking)
    if weight <= 0 or not any(period.fit(c.valid_from) >= 1.0 for c in candidates):
        return None
    return Timing(period, weight)


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


def weigh(
    score: Score,
    memory: Weighable,
    now: datetime,
    half_life_days: float,
    timing: Timing | None = None,
) -> Score:
    """Scale the fused score by belief in the memory and by when it held: how recently, and
    how well that fits a period the query names (both in ``recency_weight``)."""
    confidence_weight = 0.5 + 0.5 * memory.confidence
    if not memory.current:
        confidence_weight *= NOT_CURRENT_WEIGHT
    freshest = max(memory.valid_from, memory.last_refreshed_at)
    age_days = max(0.0, (now - freshest).total_seconds() / 86_400)
    recency_weight = 0.8 + 0.2 * math.pow(0.5, age_days / half_life_days)
    if timing is not None:
        # The said time (valid_from), not the refresh: the query asks when it was said.
        recency_weight *= 1 - timing.weight * (1 - timing.period.fit(memory.valid_from))
    return Score(
        vector=score.vector,
        full_text=score.full_text,
        trigram=score.trigram,
        fused=score.fused,
        confidence_weight=confidence_weight,
        recency_weight=recency_weight,
        final=score.fused * confidence_weight * recency_weight,
    )


# --- statements before chatter ----------------------------------------------------------------

# First words of a sentence that asks ("Where do I live", "Do you remember").
INTERROGATIVES = frozenset(
    {
        *("who", "whom", "whose", "what", "which", "when", "where", "why", "how", "is", "are"),
        *("am", "was", "were", "do", "does", "did", "can", "could", "would", "should", "will"),
        *("shall", "have", "has", "had", "may", "might"),
    }
)
ACKNOWLEDGEMENTS = (
    "got it",
    "ok",
    "okay",
    "sure",
    "noted",
    "thanks",
    "thank you",
    "understood",
    "i see",
    "great",
    "sounds good",
    "will do",
    "you're welcome",
    "no problem",
    "of course",
    "i'll remember",
    "i will remember",
)
# An acknowledgement is short; a longer reply that starts with "Sure" says something.
ACKNOWLEDGEMENT_MAX_WORDS = 8
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[\w']+")


def question_share(text: str) -> float:
    """The share of the text, by length, in sentences that ask rather than state."""
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    total = sum(len(s) for s in sentences)
    asked = sum(len(s) for s in sentences if _asks(s))
    return asked / total if total else 0.0


def _asks(sentence: str) -> bool:
    words = _WORD.findall(sentence.lower())
    return sentence.rstrip(" \"')").endswith("?") or (bool(words) and words[0] in INTERROGATIVES)


def is_acknowledgement(memory: MemoryView) -> bool:
    """An assistant's short "Got it, thanks for telling me.": it acknowledges, states nothing."""
    if memory.kind is not Kind.EPISODE or memory.role is not Role.ASSISTANT:
        return False
    text = " ".join(_WORD.findall(memory.content.lower()))
    short = len(text.split()) <= ACKNOWLEDGEMENT_MAX_WORDS
    return short and any(text == a or text.startswith(a + " ") for a in ACKNOWLEDGEMENTS)


def normalised(text: str) -> str:
    """The text as a repeat is recognised: case, spacing and punctuation left out."""
    return " ".join(_WORD.findall(text.casefold()))


def chatter_weight(query: str, memory: MemoryView, question_weight: float) -> float:
    """How much an episode's score keeps for not stating anything: the part of it that asks
    (when the query is itself a question), an acknowledgement, an earlier asking of the query."""
    if memory.kind is not Kind.EPISODE:
        return 1.0
    weight = 1.0
    if question_share(query) > 0:
        weight *= 1 - question_weight * question_share(memory.content)
    if is_acknowledgement(memory):
        weight *= ACKNOWLEDGEMENT_WEIGHT
    if normalised(memory.content) == normalised(query):
        weight *= ECHO_WEIGHT
    return weight


def prefer_statements(query: str, hits: list[Hit], question_weight: float) -> list[Hit]:
    """The hits re-weighed for chatter, best first, each text once (its best-ranked copy).

    The chatter weight joins ``confidence_weight`` (the belief that a memory answers), so the
    breakdown still multiplies out to ``final``.
    """
    weighed = []
    for hit in hits:
        factor = chatter_weight(query, hit.memory, question_weight)
        score = replace(
            hit.score,
            confidence_weight=hit.score.confidence_weight * factor,
            final=hit.score.final * factor,
        )
        weighed.append(Hit(hit.memory, score))
    weighed.sort(key=lambda h: -h.score.final)  # stable: ties keep the newer-first order
    seen: set[str] = set()
    out = []
    for hit in weighed:
        key = normalised(hit.memory.content)
        if key in seen:
            continue
        seen.add(key)
        out.append(hit)
    return out

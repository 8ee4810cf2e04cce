"""Fusion and weighting of recall candidates, without I/O."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, true

from memoire_core.db.repos.recall import (
    FULL_TEXT,
    TRIGRAM,
    VECTOR,
    Candidate,
    Filters,
    Standing,
    filter_clauses,
)
from memoire_core.domain import Kind, MemoryView, Temporal
from memoire_core.services.recall import fuse, weigh

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def memory(confidence=0.9, age_days=0.0, superseded=False) -> MemoryView:
    when = NOW - timedelta(days=age_days)
    return MemoryView(
        id=uuid.uuid4(),
        user_external_id="u",
        kind=Kind.FACT,
        content="x",
        category="",
        slot="",
        temporal=Temporal.CURRENT,
        confidence=confidence,
        essential=False,
        language="",
        source_message_ids=[],
        session_external_id="",
        role=None,
        valid_from=when,
        valid_to=NOW if superseded else None,
        created_at=when,
        superseded_at=NOW if superseded else None,
        superseded_by=None,
        last_refreshed_at=when,
        metadata={},
    )


def test_a_memory_found_by_every_ranking_outranks_one_found_by_one():
    a, b = uuid.uuid4(), uuid.uuid4()
    found = [
        Candidate(a, VECTOR, 0.8),
        Candidate(b, VECTOR, 0.9),
        Candidate(a, FULL_TEXT, 0.5),
        Candidate(a, TRIGRAM, 0.4),
    ]
    scores = fuse(found, rrf_k=60)
    assert scores[a].fused > scores[b].fused
    assert scores[a].vector == 0.8 and scores[a].full_text == 0.5 and scores[a].trigram == 0.4
    assert scores[b].full_text == 0.0


def test_rank_not_raw_score_decides_within_a_ranking():
    a, b = uuid.uuid4(), uuid.uuid4()
    scores = fuse([Candidate(a, FULL_TEXT, 0.01), Candidate(b, FULL_TEXT, 0.02)], rrf_k=60)
    assert scores[b].fused == 1 / 61 and scores[a].fused == 1 / 62


def test_a_superseded_fact_ranks_below_an_equally_relevant_current_one():
    score = fuse([Candidate(uuid.uuid4(), VECTOR, 0.9)], 60).popitem()[1]
    current = weigh(score, memory(), NOW, 180)
    retired = weigh(score, memory(superseded=True), NOW, 180)
    assert retired.final < current.final


def test_older_and_less_believed_memories_weigh_less_but_never_vanish():
    score = fuse([Candidate(uuid.uuid4(), VECTOR, 0.9)], 60).popitem()[1]
    fresh = weigh(score, memory(confidence=0.9), NOW, 180)
    old = weigh(score, memory(confidence=0.9, age_days=720), NOW, 180)
    doubtful = weigh(score, memory(confidence=0.1), NOW, 180)
    assert old.recency_weight < fresh.recency_weight
    assert old.recency_weight >= 0.8
    assert doubtful.confidence_weight < fresh.confidence_weight
    assert doubtful.final > 0


def test_a_ranking_standing_weighs_exactly_like_the_full_memory():
    view = memory(confidence=0.7, age_days=40, superseded=True)
    standing = Standing(
        view.confidence, view.current, view.valid_from, view.last_refreshed_at, view.created_at
    )
    score = fuse([Candidate(view.id, FULL_TEXT, 3.2)], 60)[view.id]
    assert weigh(score, standing, NOW, 180) == weigh(score, view, NOW, 180)


def test_every_filter_binds_exactly_the_values_it_names():
    filters = Filters(
        kinds=frozenset({Kind.FACT}),
        categories=frozenset({"work", "location"}),
        current_only=True,
        as_of=NOW,
        start=NOW - timedelta(days=9),
        end=NOW,
        session_id=uuid.uuid4(),
    )
    for chosen in (filters, Filters(), Filters(categories=frozenset({"work"}), end=NOW)):
        clauses = and_(true(), *filter_clauses(chosen.shape()))
        bound = {b.key for b in clauses.compile().binds.values() if b.key.startswith("f_")}
        assert bound == set(chosen.params())

"""Fusion and weighting of recall candidates, without I/O."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, true

from memoire_core.db.repos.recall import (
    FULL_TEXT,
    TRIGRAM,
    VECTOR,
    Candidate,
    Found,
    Standing,
    filter_clauses,
    filter_params,
    filter_shape,
)
from memoire_core.domain import Hit, Kind, MemoryView, Role, Score, Temporal
from memoire_core.domain import RecallQuery as Filters
from memoire_core.services import temporal
from memoire_core.services.recall import (
    Ranking,
    fuse,
    merge,
    period_filters,
    period_weights,
    prefer_statements,
    question_share,
    weigh,
)

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
        clauses = and_(true(), *filter_clauses(filter_shape(chosen)))
        bound = {b.key for b in clauses.compile().binds.values() if b.key.startswith("f_")}
        assert bound == set(filter_params(chosen))


def episode(content: str, role: Role = Role.USER, said: datetime = NOW) -> MemoryView:
    view = memory()
    view.kind, view.content, view.role, view.temporal = Kind.EPISODE, content, role, None
    view.valid_from = view.last_refreshed_at = view.created_at = said
    return view


def hit(view: MemoryView, final: float) -> Hit:
    return Hit(view, Score(fused=final, final=final))


def test_a_question_is_measured_by_the_share_of_it_that_asks():
    assert question_share("Where do I live?") == 1.0
    assert question_share("Do you remember my sister") == 1.0
    assert question_share("I live in Austin, Texas now.") == 0.0
    mixed = question_share("I went camping with my kids by the lake last week. Have you been?")
    assert 0 < mixed < 0.5


def test_a_statement_outranks_an_earlier_question_and_an_acknowledgement():
    asked = episode("Where do I live?")
    thanks = episode("Got it, thanks for telling me.", Role.ASSISTANT)
    stated = episode("I live in Austin, Texas now.")
    hits = [hit(asked, 1.0), hit(thanks, 0.9), hit(stated, 0.8)]
    ranked = prefer_statements("Where do I live?", hits, question_weight=0.3)
    assert ranked[0].memory.content == stated.content
    # The weight joins the breakdown, which still multiplies out to the final score.
    for h in ranked:
        assert h.score.final == h.score.fused * h.score.confidence_weight * h.score.recency_weight


def test_a_long_assistant_reply_is_not_an_acknowledgement():
    reply = episode(
        "Sure. Austin is the capital of Texas, and it has great barbecue.", Role.ASSISTANT
    )
    [kept] = prefer_statements("Tell me about Austin", [hit(reply, 1.0)], 0.3)
    assert kept.score.final == 1.0


def test_repeats_collapse_to_their_best_ranked_copy():
    first, again = (
        episode("Got it, thanks!", Role.ASSISTANT),
        episode("got it, thanks", Role.ASSISTANT),
    )
    other = episode("I live in Austin.")
    ranked = prefer_statements("where?", [hit(first, 1.0), hit(again, 0.9), hit(other, 0.1)], 0.3)
    assert [h.memory.id for h in ranked] == [first.id, other.id]


def test_facts_are_never_weighed_as_chatter():
    fact = memory()
    fact.content = "Where the user lives: Austin?"
    [kept] = prefer_statements("Where do I live?", [hit(fact, 1.0)], 0.45)
    assert kept.score.final == 1.0


def test_a_named_period_weighs_memories_said_in_it_above_others():
    may = temporal.find("What did I do in May 2023?").resolve(NOW)  # type: ignore[union-attr]
    said = {m: episode("I went hiking", said=datetime(2023, m, 15, tzinfo=UTC)) for m in (3, 5, 7)}
    timing = period_weights(may, Ranking(), said.values())
    assert timing is not None
    score = fuse([Candidate(uuid.uuid4(), FULL_TEXT, 1.0)], 60).popitem()[1]
    finals = {m: weigh(score, view, NOW, 180, timing).final for m, view in said.items()}
    assert finals[5] > finals[7] and finals[5] > finals[3]


def test_a_period_no_candidate_was_said_in_weighs_nothing():
    year = temporal.find("What did I do in 2019?").resolve(NOW)  # type: ignore[union-attr]
    assert period_weights(year, Ranking(), [episode("hiking")]) is None
    assert period_weights(None, Ranking(), [episode("hiking")]) is None
    off = Ranking(period_weight=0.0, strict_period_weight=0.0)
    assert period_weights(year, off, [episode("x", said=datetime(2019, 5, 1, tzinfo=UTC))]) is None


def test_a_named_period_gets_candidates_of_its_own_within_the_callers_filters():
    may = temporal.find("in May 2023").resolve(NOW)  # type: ignore[union-attr]
    narrowed = period_filters(Filters(current_only=True), may, Ranking())
    assert narrowed is not None and narrowed.current_only
    assert narrowed.start == may.start and narrowed.end == may.told_by
    later = Filters(start=datetime(2023, 5, 10, tzinfo=UTC))
    assert period_filters(later, may, Ranking()).start == later.start  # type: ignore[union-attr]
    assert period_filters(Filters(end=datetime(2023, 1, 1, tzinfo=UTC)), may, Ranking()) is None
    assert period_filters(Filters(), may, Ranking(strict_period_weight=0.0)) is None


def test_merged_candidates_keep_the_whole_historys_scores_and_cap_the_narrowed_ones():
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    view = memory()
    standing = Standing(1.0, True, view.valid_from, view.valid_from, view.valid_from)
    whole = Found([Candidate(a, FULL_TEXT, 2.0)], {a: standing})
    narrowed = Found(
        [Candidate(a, FULL_TEXT, 3.0), Candidate(b, VECTOR, 0.8), Candidate(c, FULL_TEXT, 5.0)],
        {a: standing, b: standing, c: standing},
    )
    merged = merge(whole, narrowed)
    scores = {(m.memory_id, m.source): m.score for m in merged.candidates}
    # a keeps the whole history's score; c, found only in the window, ranks no higher than
    # the whole history's last full-text candidate.
    assert scores == {(a, FULL_TEXT): 2.0, (b, VECTOR): 0.8, (c, FULL_TEXT): 2.0}
    assert set(merged.standing) == {a, b, c}

"""Recall answers with what the user stated, at the time the question names (issue 12)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.conftest import Api
from tests.integration.helpers import eventually, timestamp

USER, ASSISTANT = memory_pb2.ROLE_USER, memory_pb2.ROLE_ASSISTANT
ACK = "Got it, thanks for telling me."


def say(api: Api, user: str, *turns: tuple[memory_pb2.Role, str, datetime]) -> None:
    """Store messages of one session, each with its role and said time."""
    api.memory.Ingest(
        pb.IngestRequest(
            user_id=user,
            session_id="s1",
            messages=[
                pb.MessageInput(role=role, content=text, create_time=timestamp(when))
                for role, text, when in turns
            ],
        )
    )


def embedded_hits(api: Api, user: str, query: str, count: int) -> list[Any]:
    """Recall's hits once at least ``count`` of them have their vector."""

    def probe() -> list[Any] | None:
        hits = api.memory.Recall(pb.RecallRequest(user_id=user, query=query)).hits
        return list(hits) if len(hits) >= count and all(h.score.vector for h in hits) else None

    return eventually(probe, timeout=60)


def turn_context(api: Api, user: str, message: str) -> pb.TurnContext:
    """The context ObserveChat answers a turn with (the turn is then left open: not stored)."""
    start = pb.TurnStart(turn_id="t1", user_id=user, session_id="s1", user_message=message)
    call = api.memory.ObserveChat(iter([pb.ObserveChatRequest(start=start)]), timeout=30)
    try:
        first: pb.ObserveChatResponse = next(call)
        return first.context
    finally:
        call.cancel()


def readme_walkthrough(api: Api) -> list[Any]:
    """The four messages the README's SDK walkthrough leaves, once they have their vectors;
    returns the hits of its question."""
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    say(
        api,
        "user-123",
        (USER, "I live in Austin, Texas now.", t0),
        (ASSISTANT, ACK, t0 + timedelta(seconds=1)),
        (USER, "Where do I live?", t0 + timedelta(seconds=2)),
        (ASSISTANT, ACK, t0 + timedelta(seconds=3)),
    )
    return embedded_hits(api, "user-123", "Where do I live?", 3)


def test_where_do_i_live_is_answered_by_the_statement_not_by_chatter(api):
    hits = readme_walkthrough(api)

    assert hits[0].memory.content == "I live in Austin, Texas now."
    contents = [h.memory.content for h in hits]
    assert contents.count(ACK) == 1  # the same reply twice is one hit
    for h in hits:
        s = h.score
        assert abs(s.final - s.fused * s.confidence_weight * s.recency_weight) < 1e-9


def test_the_prompt_block_lists_episodes_apart_from_facts_and_each_text_once(api):
    readme_walkthrough(api)

    block = turn_context(api, "user-123", "Where do I live?").prompt_block

    assert block.count(ACK) == 1
    assert "Facts Mémoire remembers" not in block  # no fact is known yet, only what was said
    assert "From earlier conversations:" in block
    assert '"I live in Austin, Texas now." (user said on' in block
    lines = [line for line in block.splitlines() if line.startswith("- ")]
    assert lines[0].startswith('- "I live in Austin, Texas now."')


def test_a_month_named_in_the_question_ranks_what_was_said_then_first(api):
    say(
        api,
        "u1",
        (
            USER,
            "I went hiking with my friends at Enchanted Rock.",
            datetime(2023, 3, 18, tzinfo=UTC),
        ),
        (USER, "I went hiking with my friends at Lake Travis.", datetime(2023, 5, 20, tzinfo=UTC)),
        (USER, "I went hiking with my friends at Big Bend.", datetime(2023, 7, 15, tzinfo=UTC)),
    )

    hits = embedded_hits(api, "u1", "What did I do in May 2023?", 3)

    assert hits[0].memory.content == "I went hiking with my friends at Lake Travis."
    assert hits[0].score.recency_weight > hits[1].score.recency_weight

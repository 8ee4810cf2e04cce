"""Ingest stores messages at once and Recall finds them, scoped to their user."""

import grpc

from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.helpers import eventually, failure, ingest, user_message


def test_an_ingested_message_is_recallable_at_once(api):
    reply = ingest(api, "user-123", "I live in Austin, Texas now.")
    assert len(reply.message_ids) == 1

    hits = api.memory.Recall(pb.RecallRequest(user_id="user-123", query="Austin Texas")).hits

    assert hits[0].memory.content == "I live in Austin, Texas now."
    assert hits[0].memory.kind == memory_pb2.MEMORY_KIND_EPISODE
    assert list(hits[0].memory.source_message_ids) == list(reply.message_ids)
    assert hits[0].score.full_text > 0


def test_a_paraphrased_question_finds_the_message_once_it_is_embedded(api):
    ingest(api, "u1", "My sister Maria just had a baby girl.", "I bought a new bicycle.")

    def vector_hit():
        hits = api.memory.Recall(pb.RecallRequest(user_id="u1", query="niece born")).hits
        return hits if hits and hits[0].score.vector > 0 else None

    hits = eventually(vector_hit)
    assert hits[0].memory.content == "My sister Maria just had a baby girl."


def test_without_an_llm_extraction_is_reported_as_skipped(api):
    reply = ingest(api, "u1", "I love hiking.")

    assert reply.extraction_state == memory_pb2.EXTRACTION_STATE_SKIPPED
    job = api.memory.GetExtraction(pb.GetExtractionRequest(extraction_id=reply.extraction_id))
    assert job.extraction.state == memory_pb2.EXTRACTION_STATE_SKIPPED
    assert "MEMOIRE_LLM_MODEL" in job.extraction.reason
    assert list(job.extraction.message_ids) == list(reply.message_ids)


def test_resending_a_client_message_id_stores_nothing_new(api):
    first = api.memory.Ingest(
        pb.IngestRequest(
            user_id="u1", messages=[user_message("I adopted a cat named Miso.", "m-1")]
        )
    )
    again = api.memory.Ingest(
        pb.IngestRequest(
            user_id="u1", messages=[user_message("I adopted a cat named Miso.", "m-1")]
        )
    )

    assert again.message_ids == first.message_ids
    assert again.duplicate_count == 1
    assert again.extraction_id == first.extraction_id
    episodes = api.memory.ListMemories(pb.ListMemoriesRequest(user_id="u1")).memories
    assert [m.content for m in episodes] == ["I adopted a cat named Miso."]


def test_a_batch_mixing_new_and_resent_messages_stores_only_the_new(api):
    api.memory.Ingest(pb.IngestRequest(user_id="u1", messages=[user_message("one", "a")]))
    reply = api.memory.Ingest(
        pb.IngestRequest(
            user_id="u1", messages=[user_message("one", "a"), user_message("two", "b")]
        )
    )

    assert reply.duplicate_count == 1
    contents = sorted(
        m.content for m in api.memory.ListMemories(pb.ListMemoriesRequest(user_id="u1")).memories
    )
    assert contents == ["one", "two"]


def test_one_users_messages_never_reach_another_user(api):
    ingest(api, "alice", "My bank PIN is hidden under the blue vase.")
    ingest(api, "bob", "I like the blue sky.")

    hits = api.memory.Recall(pb.RecallRequest(user_id="bob", query="blue vase PIN")).hits

    assert all(h.memory.user_id == "bob" for h in hits)
    assert "vase" not in " ".join(h.memory.content for h in hits)


def test_another_apps_key_sees_none_of_this_apps_users(api, server, api_for):
    ingest(api, "user-123", "I live in Austin, Texas now.")
    other = api_for(server.new_app_key())

    hits = other.memory.Recall(pb.RecallRequest(user_id="user-123", query="Austin")).hits

    assert list(hits) == []


def test_recall_can_be_limited_to_a_session(api):
    ingest(api, "u1", "Paris trip planning", session="s-travel")
    ingest(api, "u1", "Paris office move", session="s-work")

    hits = api.memory.Recall(
        pb.RecallRequest(user_id="u1", query="Paris", session_id="s-travel")
    ).hits

    assert [h.memory.content for h in hits] == ["Paris trip planning"]
    assert hits[0].memory.session_id == "s-travel"


def test_ingest_rejects_bad_input_naming_each_field_and_stores_nothing(api):
    bad = pb.IngestRequest(
        user_id="u1",
        messages=[
            pb.MessageInput(role=memory_pb2.ROLE_USER, content=""),
            pb.MessageInput(content="no role"),
            user_message("x" * 40_000),
        ],
    )
    err = failure(lambda: api.memory.Ingest(bad))

    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.reason == "INVALID_ARGUMENT"
    assert set(err.fields) == {"messages[0].content", "messages[1].role", "messages[2].content"}
    assert list(api.memory.ListMemories(pb.ListMemoriesRequest(user_id="u1")).memories) == []


def test_ingest_needs_a_user_id_with_an_app_key(api):
    err = failure(lambda: api.memory.Ingest(pb.IngestRequest(messages=[user_message("hi")])))
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.fields == ["user_id"]


def test_recall_rejects_an_empty_query_and_an_oversized_limit(api):
    err = failure(lambda: api.memory.Recall(pb.RecallRequest(user_id="u1", query=" ", limit=1000)))
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(err.fields) == {"query", "limit"}


def test_a_missing_or_wrong_key_is_unauthenticated(api_for):
    for key in (None, "nonsense", "mem_AAAAAAAAAAAA_notthesecret"):
        memory = api_for(key).memory
        err = failure(lambda m=memory: m.Recall(pb.RecallRequest(user_id="u1", query="hi")))  # type: ignore[misc]
        assert err.code == grpc.StatusCode.UNAUTHENTICATED

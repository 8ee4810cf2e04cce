"""The user's rights over their data: ExportUser returns everything, ForgetUser leaves nothing.

Forgetting is checked where data could linger besides the tables: the Conscious cache in Redis
and extraction work already queued for a worker.
"""

import json
import uuid
from collections import Counter

import grpc
import redis

from memoire_proto.v1 import account_service_pb2 as apb
from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.conftest import Api, Server
from tests.integration.helpers import add, fact, failure, ingest, user_message
from tests.integration.pipeline import facts, finished, pipeline, said  # noqa: F401

SUCCEEDED = memory_pb2.EXTRACTION_STATE_SUCCEEDED


def exported(api: Api, user: str = "") -> list[pb.ExportUserResponse]:
    return list(api.memory.ExportUser(pb.ExportUserRequest(user_id=user)))


def kinds(items: list[pb.ExportUserResponse]) -> list[str]:
    return [str(item.WhichOneof("item")) for item in items]


def test_an_export_holds_the_user_sessions_messages_memories_and_history(api: Api):
    api.accounts.CreateUser(apb.CreateUserRequest(user_id="u1", metadata={"plan": "pro"}))
    api.memory.Ingest(
        pb.IngestRequest(
            user_id="u1",
            session_id="trip",
            messages=[
                user_message("Booked the flight to Lisbon", "m1", metadata={"channel": "web"}),
                user_message("Window seat please", "m2"),
            ],
        )
    )
    [old] = add(api, "u1", fact("Lives in Paris", "location.home", value="Paris"))
    [new] = add(api, "u1", fact("Lives in Lisbon", "location.home", value="Lisbon"))

    items = exported(api, "u1")

    assert kinds(items)[0] == "user"
    assert items[0].user.id == "u1"
    assert dict(items[0].user.metadata) == {"plan": "pro"}
    order = [k for i, k in enumerate(kinds(items)) if i == 0 or k != kinds(items)[i - 1]]
    assert order == ["user", "session", "message", "memory", "event", "extraction"]
    messages = [i.message for i in items if i.HasField("message")]
    assert [(m.content, m.client_message_id, m.session_id) for m in messages] == [
        ("Booked the flight to Lisbon", "m1", "trip"),
        ("Window seat please", "m2", "trip"),
    ]
    assert dict(messages[0].metadata) == {"channel": "web"}
    memories = {i.memory.id: i.memory for i in items if i.HasField("memory")}
    # The superseded fact is exported too, with what replaced it.
    assert memories[old.id].superseded_by == new.id
    assert memories[new.id].current
    assert Counter(m.kind for m in memories.values()) == {
        memory_pb2.MEMORY_KIND_EPISODE: 2,
        memory_pb2.MEMORY_KIND_FACT: 2,
    }
    events = [i.event for i in items if i.HasField("event")]
    assert memory_pb2.MEMORY_EVENT_TYPE_SUPERSEDED in {e.type for e in events}
    assert {e.memory_id for e in events} <= set(memories)
    [job] = [i.extraction for i in items if i.HasField("extraction")]
    assert list(job.message_ids) == [m.id for m in messages]


def test_an_export_is_only_ever_of_the_callers_own_user(api: Api, server: Server, api_for):
    ingest(api, "u1", "mine")
    other_app = api_for(server.new_app_key())
    ingest(other_app, "u1", "someone else's u1")
    assert {i.memory.content for i in exported(other_app, "u1") if i.HasField("memory")} == {
        "someone else's u1"
    }
    assert failure(lambda: exported(other_app, "nobody")).code == grpc.StatusCode.NOT_FOUND

    made = api.accounts.CreateUser(apb.CreateUserRequest(user_id="u2", issue_api_key=True))
    ingest(api, "u2", "u2's own words")
    as_u2 = api_for(made.api_key_secret)
    assert {i.memory.content for i in exported(as_u2) if i.HasField("memory")} == {"u2's own words"}
    refused = failure(lambda: exported(as_u2, "u1"))
    assert refused.code == grpc.StatusCode.PERMISSION_DENIED


def test_an_export_rejects_a_bad_user_id_naming_the_field(api: Api):
    bad = failure(lambda: exported(api, "x" * 500))
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert bad.fields == ["user_id"]


def test_forgetting_a_user_erases_their_cached_essentials(api: Api, redis_server):
    name = f"Is called Ada {uuid.uuid4()}"
    add(api, "u1", fact(name, "identity.name", value="Ada", essential=True))
    first = api.memory.Conscious(pb.ConsciousRequest(user_id="u1"))
    again = api.memory.Conscious(pb.ConsciousRequest(user_id="u1"))  # served from the cache
    assert [m.content for m in first.memories] == [m.content for m in again.memories] == [name]
    cache = redis.Redis.from_url(redis_server.url)

    def cached() -> list[bytes]:
        return [
            key
            for key in cache.scan_iter(match="memoire:conscious:*")
            if name.encode() in (cache.get(key) or b"")
        ]

    assert cached()

    forgotten = api.memory.ForgetUser(pb.ForgetUserRequest(user_id="u1"))

    assert forgotten.deleted_memories == 1
    assert cached() == []
    after = api.memory.Conscious(pb.ConsciousRequest(user_id="u1"))
    assert list(after.memories) == []
    assert after.prompt_block == ""
    assert failure(lambda: exported(api, "u1")).code == grpc.StatusCode.NOT_FOUND


def test_forgetting_a_user_cancels_their_queued_extractions(pipeline):
    api = pipeline.api()
    # The worker runs one job at a time: while it waits on a slow provider, the next user's
    # job sits in the queue when the user is forgotten.
    pipeline.llm.say("Tell me a long story.", delay=3.0)
    pipeline.llm.say("I live in Oslo.", {"content": "Lives in Oslo", "slot": "location.home"})
    busy = said(api, "busy", "Tell me a long story.")
    queued = said(api, "leaving", "I adopted a cat called Miso.")
    api.memory.ForgetUser(pb.ForgetUserRequest(user_id="leaving"))
    staying = said(api, "staying", "I live in Oslo.")

    # Jobs are taken in order: once the later job is done, the forgotten one was dropped
    # without a call to the provider.
    assert finished(api, busy.extraction_id).state == SUCCEEDED
    assert finished(api, staying.extraction_id).state == SUCCEEDED
    asked = [json.dumps(r) for r in pipeline.llm.requests]
    assert not any("Miso" in body for body in asked)
    gone = failure(
        lambda: api.memory.GetExtraction(
            pb.GetExtractionRequest(extraction_id=queued.extraction_id)
        )
    )
    assert gone.code == grpc.StatusCode.NOT_FOUND
    assert [f.content for f in facts(api, "staying")] == ["Lives in Oslo"]
    assert facts(api, "leaving") == []

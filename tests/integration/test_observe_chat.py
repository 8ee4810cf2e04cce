"""ObserveChat against the real server: context at once, one stored turn, one extraction and its
update; many turns per stream; every way a stream can end; bad input."""

import queue
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from sqlalchemy import update

from memoire_core.db.tables import extraction_jobs, memory_events
from memoire_proto.v1 import account_service_pb2 as apb
from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_server import observe
from memoire_server.app import start
from tests.integration.conftest import Api, Server
from tests.integration.helpers import add, eventually, fact, failure_of, listed

EPISODE = memory_pb2.MEMORY_KIND_EPISODE
SKIPPED = memory_pb2.EXTRACTION_STATE_SKIPPED
PENDING = memory_pb2.EXTRACTION_STATE_PENDING
SUCCEEDED = memory_pb2.EXTRACTION_STATE_SUCCEEDED
CREATED = memory_pb2.MEMORY_EVENT_TYPE_CREATED
USER = memory_pb2.ROLE_USER
ASSISTANT = memory_pb2.ROLE_ASSISTANT


class Chat:
    """One ObserveChat stream driven step by step: send an event, read the next response."""

    def __init__(self, api: Api, timeout: float = 30) -> None:
        self._requests: queue.Queue[pb.ObserveChatRequest | None] = queue.Queue()
        self.call: Any = api.memory.ObserveChat(iter(self._requests.get, None), timeout=timeout)

    def start(self, turn_id: str, user: str, message: str, **kwargs: Any) -> "Chat":
        start = pb.TurnStart(turn_id=turn_id, user_id=user, user_message=message, **kwargs)
        self._requests.put(pb.ObserveChatRequest(start=start))
        return self

    def delta(self, turn_id: str, text: str) -> "Chat":
        self._requests.put(
            pb.ObserveChatRequest(delta=pb.AssistantDelta(turn_id=turn_id, text=text))
        )
        return self

    def end(self, turn_id: str, reply: str = "", abandoned: bool = False) -> "Chat":
        end = pb.TurnEnd(turn_id=turn_id, assistant_message=reply, abandoned=abandoned)
        self._requests.put(pb.ObserveChatRequest(end=end))
        return self

    def raw(self, request: pb.ObserveChatRequest) -> "Chat":
        self._requests.put(request)
        return self

    def close(self) -> None:
        """Half-close: no more requests."""
        self._requests.put(None)

    def next(self) -> pb.ObserveChatResponse:
        response: pb.ObserveChatResponse = next(self.call)
        return response

    def context(self) -> pb.TurnContext:
        response = self.next()
        assert response.WhichOneof("event") == "context", response
        return response.context

    def stored(self) -> pb.TurnStored:
        response = self.next()
        assert response.WhichOneof("event") == "stored", response
        return response.stored

    def update(self) -> pb.MemoryUpdate:
        response = self.next()
        assert response.WhichOneof("event") == "update", response
        return response.update

    def rest(self) -> list[pb.ObserveChatResponse]:
        """Every response until the server ends the stream."""
        return list(self.call)


@pytest.fixture
def chat(api: Api) -> Iterator[Any]:
    opened: list[Chat] = []

    def make(timeout: float = 30, on: Api | None = None) -> Chat:
        c = Chat(on or api, timeout)
        opened.append(c)
        return c

    yield make
    for c in opened:  # release the request threads of streams a test left open
        c.close()
        c.call.cancel()


def stream_failure(call: Any) -> tuple[grpc.StatusCode, str, list[str]]:
    """Drain a stream that must fail; its code, reason and bad fields."""
    with pytest.raises(grpc.RpcError) as caught:
        for _ in call:
            pass
    failed = failure_of(caught.value)
    return failed.code, failed.reason, failed.fields


def episodes(api: Api, user: str) -> list[Any]:
    return sorted(
        (m for m in listed(api, user) if m.kind == EPISODE),
        key=lambda m: (m.valid_from_time.ToNanoseconds(), m.role),
    )


def contents(api: Api, user: str) -> list[str]:
    return [m.content for m in episodes(api, user)]


def turn_id() -> str:
    return f"turn-{uuid.uuid4()}"


# --- one turn ---------------------------------------------------------------------------------


def test_a_turn_gets_context_at_once_then_is_stored_once_with_one_extraction(api, chat):
    [home] = add(api, "u1", fact("Lives in Austin, Texas", "location.home", essential=True))
    add(api, "u1", fact("Plays the cello on Sundays", category="hobby"))
    tid = turn_id()

    c = chat().start(tid, "u1", "Which instrument do I play?")
    context = c.context()
    assert context.turn_id == tid
    assert [m.id for m in context.conscious] == [home.id]
    assert "Plays the cello on Sundays" in [h.memory.content for h in context.recalled]
    assert context.prompt_block.startswith("<memoire_memory>")
    assert "Lives in Austin, Texas" in context.prompt_block
    assert "Plays the cello on Sundays" in context.prompt_block

    c.delta(tid, "You play ").delta(tid, "the cello.").end(tid)
    stored = c.stored()
    assert stored.turn_id == tid
    assert len(stored.message_ids) == 2
    assert stored.extraction_id

    update = c.update()
    assert (update.turn_id, update.extraction_id) == (tid, stored.extraction_id)
    assert update.extraction_state == SKIPPED  # no LLM is configured on the test server
    assert list(update.events) == []
    c.close()
    assert c.rest() == []

    eps = episodes(api, "u1")
    assert [(m.role, m.content) for m in eps] == [
        (USER, "Which instrument do I play?"),
        (ASSISTANT, "You play the cello."),
    ]
    assert [m.source_message_ids[0] for m in eps] == list(stored.message_ids)
    job = api.memory.GetExtraction(pb.GetExtractionRequest(extraction_id=stored.extraction_id))
    assert list(job.extraction.message_ids) == list(stored.message_ids)


def test_a_user_with_no_memories_gets_an_empty_context(api, chat):
    c = chat().start(turn_id(), "newcomer", "Hello there")
    context = c.context()
    assert (list(context.conscious), list(context.recalled), context.prompt_block) == ([], [], "")


def test_the_full_reply_in_turn_end_replaces_the_deltas(api, chat):
    tid = turn_id()
    c = chat().start(tid, "u1", "Say hi")
    c.context()
    c.delta(tid, "Hel").end(tid, reply="Hello, friend.")
    c.stored()
    assert contents(api, "u1") == ["Say hi", "Hello, friend."]


def test_resending_a_stored_turn_is_a_no_op(api, chat):
    tid = turn_id()
    first = chat().start(tid, "u1", "I live in Austin.")
    first.context()
    first.end(tid, reply="Noted.")
    stored = first.stored()
    first.update()

    again = chat().start(tid, "u1", "I live in Austin.")
    again.context()
    again.end(tid, reply="Noted.")
    restored = again.stored()
    assert list(restored.message_ids) == list(stored.message_ids)
    assert restored.extraction_id == stored.extraction_id
    assert contents(api, "u1") == ["I live in Austin.", "Noted."]


def test_a_user_scoped_key_needs_no_user_id(api, api_for, chat):
    secret = api.accounts.CreateUser(
        apb.CreateUserRequest(user_id="solo", issue_api_key=True)
    ).api_key_secret
    tid = turn_id()
    c = chat(on=api_for(secret)).start(tid, "", "I'm vegetarian.")
    c.context()
    c.end(tid, reply="Good to know.")
    c.stored()
    assert contents(api, "solo") == ["I'm vegetarian.", "Good to know."]


# --- many turns on one stream ------------------------------------------------------------------


def test_interleaved_turns_of_several_users_share_one_stream(api, chat):
    a, b = turn_id(), turn_id()
    c = chat()
    c.start(a, "alice", "My cat is called Miso.")
    c.start(b, "bob", "I collect stamps.")
    assert c.context().turn_id == a
    assert c.context().turn_id == b
    c.delta(a, "Miso is ").delta(b, "Stamps are ").delta(a, "a lovely name.")
    c.delta(b, "fun to collect.").end(b).end(a)

    stored: dict[str, pb.TurnStored] = {}
    updates: dict[str, pb.MemoryUpdate] = {}
    while len(stored) < 2 or len(updates) < 2:
        response = c.next()
        kind = response.WhichOneof("event")
        if kind == "stored":
            assert response.stored.turn_id not in updates  # stored before its update
            stored[response.stored.turn_id] = response.stored
        else:
            assert kind == "update"
            updates[response.update.turn_id] = response.update
    assert updates[a].extraction_id == stored[a].extraction_id
    assert updates[b].extraction_id == stored[b].extraction_id
    assert stored[a].extraction_id != stored[b].extraction_id

    # A turn stored on the stream is recalled by the next turn on it.
    later = turn_id()
    c.start(later, "alice", "What is my cat called?")
    assert "My cat is called Miso." in [h.memory.content for h in c.context().recalled]

    assert contents(api, "alice") == ["My cat is called Miso.", "Miso is a lovely name."]
    assert contents(api, "bob") == ["I collect stamps.", "Stamps are fun to collect."]


# --- how streams end -----------------------------------------------------------------------------


def test_half_close_right_after_turn_end_still_delivers_the_update(api, chat):
    tid = turn_id()
    c = chat().start(tid, "u1", "Remember my birthday is May 4.")
    c.end(tid, reply="I will.")
    c.close()
    kinds = [r.WhichOneof("event") for r in c.rest()]
    assert kinds == ["context", "stored", "update"]


def test_a_turn_left_open_without_reply_stores_nothing(api, chat):
    c = chat().start(turn_id(), "u1", "Hello?")
    c.context()
    c.close()
    assert c.rest() == []
    assert contents(api, "u1") == []


def test_a_turn_left_open_after_some_reply_stores_what_was_seen(api, chat):
    tid = turn_id()
    c = chat().start(tid, "u1", "Tell me a story.")
    c.context()
    c.delta(tid, "Once upon ").delta(tid, "a time")
    c.close()
    kinds = [r.WhichOneof("event") for r in c.rest()]
    assert kinds == ["stored", "update"]
    eps = episodes(api, "u1")
    assert [m.content for m in eps] == ["Tell me a story.", "Once upon a time"]
    assert eps[1].metadata["abandoned"] == "true"


def test_an_abandoned_turn_stores_what_was_seen(api, chat):
    tid = turn_id()
    c = chat().start(tid, "u1", "List every prime.")
    c.context()
    c.delta(tid, "2, 3, 5").end(tid, abandoned=True)
    assert len(c.stored().message_ids) == 2
    eps = episodes(api, "u1")
    assert [m.content for m in eps] == ["List every prime.", "2, 3, 5"]
    assert eps[1].metadata["abandoned"] == "true"


def test_an_abandoned_turn_with_no_reply_stores_the_user_message(api, chat):
    tid = turn_id()
    c = chat().start(tid, "u1", "Are you there?")
    c.context()
    c.end(tid, abandoned=True)
    assert len(c.stored().message_ids) == 1
    assert contents(api, "u1") == ["Are you there?"]


def test_client_cancellation_ends_the_stream_and_keeps_what_was_seen(api, chat):
    seen, silent = turn_id(), turn_id()
    c = chat()
    c.start(seen, "u1", "Write a haiku.")
    c.start(silent, "u2", "Anyone home?")
    c.context()
    c.context()
    c.delta(seen, "Autumn moonlight")
    # The delta is read before this start is answered, so the server has seen it.
    c.start(turn_id(), "u3", "ping")
    c.context()
    c.call.cancel()
    with pytest.raises(grpc.RpcError) as caught:
        c.next()
    assert caught.value.code() == grpc.StatusCode.CANCELLED

    assert eventually(lambda: contents(api, "u1") == ["Write a haiku.", "Autumn moonlight"])
    assert contents(api, "u2") == []
    # The server goes on serving.
    tid = turn_id()
    again = chat().start(tid, "u2", "Still there?")
    assert again.context().turn_id == tid


def test_a_deadline_ends_the_stream_and_keeps_what_was_seen(api, chat):
    tid = turn_id()
    c = chat(timeout=1.5).start(tid, "u1", "Count to a million.")
    c.context()
    c.delta(tid, "1, 2, 3")
    started = time.monotonic()
    code, _, _ = stream_failure(c.call)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 5
    assert eventually(lambda: contents(api, "u1") == ["Count to a million.", "1, 2, 3"])


def test_server_shutdown_ends_open_streams(server: Server, api_for, embedder):
    key = server.new_app_key()
    other = server.loop.run(start(server.running.app.settings.model_copy(), embedder))
    with grpc.insecure_channel(f"127.0.0.1:{other.port}") as channel:
        c = Chat(Api(channel, key))
        tid = turn_id()
        c.start(tid, "u1", "Goodbye soon.")
        c.context()
        c.delta(tid, "See you")
        c.start(turn_id(), "u2", "ping")
        c.context()
        started = time.monotonic()
        server.loop.run(other.stop(0.5))
        assert time.monotonic() - started < 5
        code, _, _ = stream_failure(c.call)
        assert code in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
        c.close()
    assert eventually(lambda: contents(api_for(key), "u1") == ["Goodbye soon.", "See you"])


# --- what an extraction changed -----------------------------------------------------------------


@pytest.fixture(scope="module")
def pending_server(server: Server, embedder) -> Iterator[str]:
    """A second server whose jobs stay PENDING (an LLM is set, no broker) for a test to finish."""
    settings = server.running.app.settings.model_copy(
        update={"llm_model": "test/unused", "redis_url": ""}
    )
    running = server.loop.run(start(settings, embedder))
    yield f"127.0.0.1:{running.port}"
    server.loop.run(running.stop(1.0))


def finish_job(server: Server, extraction_id: str, memory_id: str) -> None:
    """Play the worker: the job produced one fact, whose CREATED event names the job."""

    async def work() -> None:
        job = uuid.UUID(extraction_id)
        memory = uuid.UUID(memory_id)
        async with server.running.app.sessions() as db, db.begin():
            await db.execute(
                update(memory_events)
                .where(memory_events.c.memory_id == memory)
                .values(extraction_id=job)
            )
            await db.execute(
                update(extraction_jobs)
                .where(extraction_jobs.c.id == job)
                .values(state="succeeded", fact_ids=[memory])
            )

    server.loop.run(work())


def test_the_update_reports_the_events_and_facts_of_the_extraction(server, api_for, pending_server):
    key = server.new_app_key()
    api = api_for(key)
    with grpc.insecure_channel(pending_server) as channel:
        c = Chat(Api(channel, key))
        tid = turn_id()
        c.start(tid, "u1", "I moved to Denver.")
        c.context()
        c.end(tid, reply="Welcome to Denver!")
        stored = c.stored()
        [denver] = add(api, "u1", fact("Lives in Denver", "location.home"))
        finish_job(server, stored.extraction_id, denver.id)
        update = c.update()
        c.close()
        assert c.rest() == []
    assert update.extraction_state == SUCCEEDED
    assert [(e.type, e.memory_id, e.extraction_id) for e in update.events] == [
        (CREATED, denver.id, stored.extraction_id)
    ]
    assert [m.id for m in update.memories] == [denver.id]


def test_a_watch_that_runs_out_reports_the_last_state(server, pending_server, monkeypatch):
    monkeypatch.setattr(observe, "WATCH_SECONDS", 0.3)
    with grpc.insecure_channel(pending_server) as channel:
        c = Chat(Api(channel, server.new_app_key()))
        tid = turn_id()
        c.start(tid, "u1", "Note this.")
        c.end(tid, reply="Noted.")
        c.close()
        responses = c.rest()
    assert [r.WhichOneof("event") for r in responses] == ["context", "stored", "update"]
    assert responses[2].update.extraction_state == PENDING


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "field"),
    [
        (
            [pb.ObserveChatRequest(start=pb.TurnStart(user_id="u1", user_message="hi"))],
            "start.turn_id",
        ),
        (
            [
                pb.ObserveChatRequest(
                    start=pb.TurnStart(turn_id="t", user_id="u1", user_message=" ")
                )
            ],
            "start.user_message",
        ),
        (
            [pb.ObserveChatRequest(start=pb.TurnStart(turn_id="t", user_message="hi"))],
            "start.user_id",
        ),
        (
            [
                pb.ObserveChatRequest(
                    start=pb.TurnStart(
                        turn_id="t", user_id="u1", user_message="hi", recall_limit=51
                    )
                )
            ],
            "start.recall_limit",
        ),
        (
            [pb.ObserveChatRequest(delta=pb.AssistantDelta(turn_id="nope", text="x"))],
            "delta.turn_id",
        ),
        ([pb.ObserveChatRequest(end=pb.TurnEnd(turn_id="nope"))], "end.turn_id"),
        ([pb.ObserveChatRequest()], "event"),
        (
            [
                pb.ObserveChatRequest(
                    start=pb.TurnStart(turn_id="t", user_id="u1", user_message="a")
                ),
                pb.ObserveChatRequest(
                    start=pb.TurnStart(turn_id="t", user_id="u1", user_message="b")
                ),
            ],
            "start.turn_id",
        ),
    ],
)
def test_bad_input_ends_the_stream_with_invalid_argument_naming_the_field(api, events, field):
    call = api.memory.ObserveChat(iter(events))
    code, reason, fields = stream_failure(call)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert field in fields


def test_a_reply_over_the_size_limit_is_invalid(api, server):
    limit = server.running.app.settings.limits.content_bytes
    events = [
        pb.ObserveChatRequest(start=pb.TurnStart(turn_id="t", user_id="u1", user_message="hi")),
        # The second delta takes the reply one byte over. (The first is small: what was seen
        # is stored, and the local embedder is slow on very long texts.)
        pb.ObserveChatRequest(delta=pb.AssistantDelta(turn_id="t", text="y")),
        pb.ObserveChatRequest(delta=pb.AssistantDelta(turn_id="t", text="x" * limit)),
    ]
    code, _, fields = stream_failure(api.memory.ObserveChat(iter(events)))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["delta.text"])


def test_responses_before_the_bad_event_still_arrive(api):
    tid = turn_id()
    events = [
        pb.ObserveChatRequest(start=pb.TurnStart(turn_id=tid, user_id="u1", user_message="hi")),
        pb.ObserveChatRequest(delta=pb.AssistantDelta(turn_id="other", text="x")),
    ]
    call = api.memory.ObserveChat(iter(events))
    assert next(call).context.turn_id == tid
    code, _, fields = stream_failure(call)
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["delta.turn_id"])


def test_a_stream_without_a_valid_key_is_unauthenticated(api_for):
    events = [
        pb.ObserveChatRequest(start=pb.TurnStart(turn_id="t", user_id="u1", user_message="hi"))
    ]
    code, _, _ = stream_failure(api_for("mem_nottherightkey_xxx").memory.ObserveChat(iter(events)))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, _, _ = stream_failure(api_for(None).memory.ObserveChat(iter(events)))
    assert code == grpc.StatusCode.UNAUTHENTICATED

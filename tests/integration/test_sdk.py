"""The Python SDK against the real server: the typed clients for every RPC, and memory.wrap()
around the real openai and anthropic clients talking to a local imitation of each provider."""

import asyncio
import gc
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import grpc
import openai
import pytest
from memoire import (
    AsyncMemoireClient,
    BreakerState,
    CircuitBreaker,
    InvalidArgument,
    Memoire,
    MemoireClient,
    NotFound,
    ResourceExhausted,
    RetryPolicy,
    Unauthenticated,
    Unavailable,
)

from memoire_proto.v1 import account_pb2, memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_server.app import start
from tests.integration.conftest import Server, own_server
from tests.integration.fake_llm import FakeLLM, fake_llm
from tests.integration.helpers import key_id_of

EPISODE = memory_pb2.MEMORY_KIND_EPISODE
USER = memory_pb2.ROLE_USER
ASSISTANT = memory_pb2.ROLE_ASSISTANT
BUDGET = 5.0  # seconds: one busy process runs the server, the client and the fake provider
ADMIN_KEY = "admin-" + uuid.uuid4().hex


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with fake_llm() as provider:
        yield provider


@pytest.fixture
def key(server: Server) -> str:
    return server.new_app_key()


@pytest.fixture
def memoire_for(server: Server, key: str) -> Iterator[Callable[..., Memoire]]:
    made: list[Memoire] = []

    def make(**kwargs: Any) -> Memoire:
        kwargs.setdefault("api_key", key)
        kwargs.setdefault("target", server.target)
        kwargs.setdefault("recall_budget", BUDGET)
        made.append(Memoire(**kwargs))
        return made[-1]

    yield make
    for m in made:
        m.close()


def remember(server: Server, key: str, user: str, statement: str) -> None:
    """An essential fact, so every turn's context carries it."""
    with MemoireClient(key, server.target) as client:
        client.add_memories(user, [pb.FactInput(content=statement, essential=True)])


def turns(server: Server, key: str, user: str) -> list[tuple[int, str]]:
    """The user's stored messages as (role, text), in the order they were said."""
    with MemoireClient(key, server.target) as client:
        page = client.list_memories(user, kind=EPISODE, page_size=100)
    ordered = sorted(page.memories, key=lambda m: (m.valid_from_time.ToNanoseconds(), m.role))
    return [(m.role, m.content) for m in ordered]


def system_text(body: dict[str, Any]) -> str:
    """The system prompt of a recorded request, whichever provider it went to."""
    if "system" in body:
        system = body["system"]
        return system if isinstance(system, str) else "\n".join(b["text"] for b in system)
    first = body["messages"][0]
    return first["content"] if first["role"] == "system" else ""


# --- the walkthrough of the README ---------------------------------------------------------------


def test_walkthrough_the_second_call_knows_where_the_user_lives(server, fake, monkeypatch):
    # The README's code, line for line. Only the budget is raised, through the environment:
    # here one loaded process runs the server, this client and the fake provider.
    monkeypatch.setenv("MEMOIRE_RECALL_BUDGET_MS", str(BUDGET * 1000))
    KEY, TARGET, FAKE_PROVIDER = server.new_app_key(), server.target, fake.openai_url

    memoire = Memoire(api_key=KEY, target=TARGET)
    client = memoire.wrap(openai.OpenAI(base_url=FAKE_PROVIDER, api_key="x"))
    client.chat.completions.create(
        model="gpt-4o",
        user="user-123",
        messages=[{"role": "user", "content": "I live in Austin, Texas now."}],
    )
    client.chat.completions.create(
        model="gpt-4o",
        user="user-123",
        messages=[{"role": "user", "content": "Where do I live?"}],
    )

    first, second = fake.bodies()
    assert "Austin" not in system_text(first)
    assert "Austin" in json.dumps(second)
    assert "Austin" in system_text(second)
    assert system_text(second).startswith("<memoire_memory>")
    assert second["messages"][1:] == [{"role": "user", "content": "Where do I live?"}]
    assert memoire.flush()
    assert turns(server, KEY, "user-123") == [
        (USER, "I live in Austin, Texas now."),
        (ASSISTANT, fake.reply),
        (USER, "Where do I live?"),
        (ASSISTANT, fake.reply),
    ]
    memoire.close()


# --- OpenAI ------------------------------------------------------------------------------------


def test_the_wrapped_openai_client_keeps_its_interface_and_return_types(memoire_for, fake):
    raw = openai.OpenAI(base_url=fake.openai_url, api_key="x")
    client = memoire_for().wrap(raw, user_id="u1")
    assert isinstance(client, openai.OpenAI)
    assert client.base_url == raw.base_url
    assert isinstance(client.with_options(timeout=5), openai.OpenAI)

    result = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert type(result) is openai.types.chat.ChatCompletion
    assert result.choices[0].message.content == fake.reply
    stream = client.with_options(timeout=5).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert type(stream) is openai.Stream
    assert "".join(c.choices[0].delta.content or "" for c in stream) == fake.reply


def test_memory_merges_into_an_existing_system_message(server, key, memoire_for, fake):
    remember(server, key, "u1", "Lives in Austin, Texas")
    client = memoire_for().wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"))
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather tips?"},
    ]
    client.chat.completions.create(model="m", user="u1", messages=messages)
    [body] = fake.bodies()
    assert body["messages"][0]["content"].startswith("You are terse.\n\n<memoire_memory>")
    assert "Lives in Austin, Texas" in body["messages"][0]["content"]
    assert body["messages"][1] == messages[1]
    assert messages[0] == {"role": "system", "content": "You are terse."}  # caller's untouched


def test_a_call_without_an_end_user_runs_without_memory(server, key, memoire_for, fake):
    m = memoire_for()
    client = m.wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"))
    messages = [{"role": "user", "content": "hello"}]
    client.chat.completions.create(model="m", messages=messages)
    assert fake.bodies()[0]["messages"] == messages
    assert m.flush()


def test_openai_streaming_forwards_chunks_as_they_arrive_and_stores_the_turn(
    server, key, memoire_for, fake
):
    remember(server, key, "u1", "Likes short answers")
    m = memoire_for()
    client = m.wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"), user_id="u1")
    plain = openai.OpenAI(base_url=fake.openai_url, api_key="x")

    def ask(llm: openai.OpenAI) -> openai.Stream[Any]:
        return llm.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Tell me a fact."}], stream=True
        )

    expected = [c.model_dump() for c in ask(plain)]
    fake.hold = True
    stream = ask(client)
    assert type(stream) is openai.Stream
    chunks = [next(stream), next(stream)]  # the role chunk, then the first words
    assert fake.sent_chunks == 2  # the provider is holding the rest back: no buffering
    fake.release.set()
    chunks += list(stream)
    assert fake.released_in_time is True
    assert [c.model_dump() for c in chunks] == expected
    assert "Likes short answers" in system_text(fake.bodies()[1])

    assert m.flush()
    assert turns(server, key, "u1") == [(USER, "Tell me a fact."), (ASSISTANT, fake.reply)]


def test_an_openai_stream_abandoned_half_way_stores_what_was_seen(server, key, memoire_for, fake):
    m = memoire_for()
    client = m.wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"), user_id="u1")
    fake.hold = True
    with client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Write an essay."}], stream=True
    ) as stream:
        next(stream)
        first = next(stream).choices[0].delta.content
    fake.release.set()
    assert m.flush()
    assert turns(server, key, "u1") == [(USER, "Write an essay."), (ASSISTANT, first)]
    with MemoireClient(key, server.target) as direct:
        [reply] = [
            x for x in direct.list_memories("u1", kind=EPISODE).memories if x.role == ASSISTANT
        ]
    assert reply.metadata["abandoned"] == "true"


def test_an_openai_stream_dropped_unread_still_ends_its_turn(server, key, memoire_for, fake):
    m = memoire_for()
    client = m.wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"), user_id="u1")
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Never mind."}], stream=True
    )
    del stream
    gc.collect()
    assert m.flush()
    assert turns(server, key, "u1") == [(USER, "Never mind.")]


def test_a_provider_error_stores_nothing_and_reaches_the_caller_unchanged(
    server, key, memoire_for, fake
):
    m = memoire_for()
    client = m.wrap(
        openai.OpenAI(base_url=fake.openai_url, api_key="x", max_retries=0), user_id="u1"
    )
    fake.fail_with = 500
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert m.flush()
    assert m.breaker.state is BreakerState.CLOSED
    assert turns(server, key, "u1") == []


def test_async_openai(server, key, memoire_for, fake):
    remember(server, key, "u1", "Has a dog named Rex")
    m = memoire_for()

    async def main() -> list[str]:
        client = m.wrap(openai.AsyncOpenAI(base_url=fake.openai_url, api_key="x"))
        assert isinstance(client, openai.AsyncOpenAI)
        result = await client.chat.completions.create(
            model="m", user="u1", messages=[{"role": "user", "content": "Walk ideas?"}]
        )
        assert type(result) is openai.types.chat.ChatCompletion
        stream = await client.chat.completions.create(
            model="m", user="u1", messages=[{"role": "user", "content": "More?"}], stream=True
        )
        assert type(stream) is openai.AsyncStream
        texts = [c.choices[0].delta.content or "" async for c in stream]
        await client.close()
        return texts

    assert "".join(asyncio.run(main())) == fake.reply
    assert all("Has a dog named Rex" in system_text(b) for b in fake.bodies())
    assert m.flush()
    assert turns(server, key, "u1") == [
        (USER, "Walk ideas?"),
        (ASSISTANT, fake.reply),
        (USER, "More?"),
        (ASSISTANT, fake.reply),
    ]


# --- Anthropic ----------------------------------------------------------------------------------


def test_anthropic_create_plain_and_streamed(server, key, memoire_for, fake):
    remember(server, key, "u1", "Is allergic to peanuts")
    m = memoire_for()
    client = m.wrap(anthropic.Anthropic(base_url=fake.anthropic_url, api_key="x"))
    assert isinstance(client, anthropic.Anthropic)
    meta: anthropic.types.MetadataParam = {"user_id": "u1"}
    message = client.messages.create(
        model="claude-x",
        max_tokens=100,
        system="Be kind.",
        metadata=meta,
        messages=[{"role": "user", "content": "Snack ideas?"}],
    )
    assert type(message) is anthropic.types.Message
    stream = client.messages.create(
        model="claude-x",
        max_tokens=100,
        metadata=meta,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "More snacks?"}]},
        ],
        stream=True,
    )
    assert type(stream) is anthropic.Stream
    events = list(stream)
    texts = [
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    ]
    assert "".join(texts) == fake.reply

    plain, streamed = fake.bodies()
    assert plain["system"].startswith("Be kind.\n\n<memoire_memory>")
    assert "Is allergic to peanuts" in plain["system"]
    assert streamed["system"].startswith("<memoire_memory>")
    assert m.flush()
    assert turns(server, key, "u1") == [
        (USER, "Snack ideas?"),
        (ASSISTANT, fake.reply),
        (USER, "More snacks?"),
        (ASSISTANT, fake.reply),
    ]


def test_anthropic_messages_stream(server, key, memoire_for, fake):
    remember(server, key, "u1", "Speaks French")
    m = memoire_for()
    client = m.wrap(anthropic.Anthropic(base_url=fake.anthropic_url, api_key="x"), user_id="u1")
    system = [{"type": "text", "text": "Be brief."}]
    with client.messages.stream(
        model="claude-x",
        max_tokens=100,
        system=system,
        messages=[{"role": "user", "content": "Greet me."}],
    ) as stream:
        assert type(stream).__name__ == "MessageStream"
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == fake.reply
    assert final.content[0].text == fake.reply
    [body] = fake.bodies()
    assert body["system"][0] == system[0]
    assert "Speaks French" in body["system"][1]["text"]
    assert m.flush()
    assert turns(server, key, "u1") == [(USER, "Greet me."), (ASSISTANT, fake.reply)]


def test_an_anthropic_stream_left_half_way_stores_what_was_seen(server, key, memoire_for, fake):
    m = memoire_for()
    client = m.wrap(anthropic.Anthropic(base_url=fake.anthropic_url, api_key="x"), user_id="u1")
    fake.hold = True
    with client.messages.stream(
        model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "Go on."}]
    ) as stream:
        first = next(iter(stream.text_stream))
    fake.release.set()
    assert m.flush()
    assert turns(server, key, "u1") == [(USER, "Go on."), (ASSISTANT, first)]


def test_async_anthropic(server, key, memoire_for, fake):
    remember(server, key, "u1", "Works night shifts")
    m = memoire_for()

    async def main() -> str:
        client = m.wrap(anthropic.AsyncAnthropic(base_url=fake.anthropic_url, api_key="x"))
        assert isinstance(client, anthropic.AsyncAnthropic)
        message = await client.messages.create(
            model="claude-x",
            max_tokens=100,
            metadata={"user_id": "u1"},
            messages=[{"role": "user", "content": "Sleep tips?"}],
        )
        assert type(message) is anthropic.types.Message
        async with client.messages.stream(
            model="claude-x",
            max_tokens=100,
            metadata={"user_id": "u1"},
            messages=[{"role": "user", "content": "Coffee?"}],
        ) as stream:
            text = "".join([t async for t in stream.text_stream])
        await client.close()
        return text

    assert asyncio.run(main()) == fake.reply
    assert all("Works night shifts" in b["system"] for b in fake.bodies())
    assert m.flush()
    assert turns(server, key, "u1") == [
        (USER, "Sleep tips?"),
        (ASSISTANT, fake.reply),
        (USER, "Coffee?"),
        (ASSISTANT, fake.reply),
    ]


# --- failing open ------------------------------------------------------------------------------


def state_of(m: Memoire) -> BreakerState:
    return m.breaker.state


def memoire_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "memoire" and r.levelno >= logging.WARNING]


def test_a_stopped_memory_service_never_fails_the_call(server, embedder, key, fake, caplog):
    other = server.loop.run(start(server.running.app.settings.model_copy(), embedder))
    target = f"127.0.0.1:{other.port}"
    server.loop.run(other.stop(0))
    m = Memoire(api_key=key, target=target)  # the default budget
    client = m.wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"), user_id="u1")
    took = []
    with caplog.at_level(logging.INFO, logger="memoire"):
        for _ in range(6):
            started = time.perf_counter()
            result = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Still there?"}]
            )
            took.append(time.perf_counter() - started)
            assert result.choices[0].message.content == fake.reply
    m.close()
    assert all("memoire_memory" not in json.dumps(b) for b in fake.bodies())
    [warning] = memoire_warnings(caplog)
    assert "UNAVAILABLE" in warning.getMessage()
    assert m.breaker.state is BreakerState.OPEN
    assert max(took) < 1.0


def test_a_slow_memory_service_is_skipped_within_the_budget(server, key, memoire_for, fake):
    remember(server, key, "u1", "Lives in Austin, Texas")
    m = memoire_for(recall_budget=0.0005)
    client = m.wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"), user_id="u1")
    for i in range(4):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"q{i}"}])
    assert all("memoire_memory" not in json.dumps(b) for b in fake.bodies())
    assert m.breaker.state is BreakerState.OPEN
    assert m.flush()
    # A slow service still stores the turns it was given (each on its own stream, so in any
    # order); once the breaker opened, none more.
    stored = [text for role, text in turns(server, key, "u1") if role == USER]
    assert sorted(stored) == ["q0", "q1", "q2"]


def test_an_erroring_memory_service_warns_once_and_strict_raises(
    server, key, memoire_for, fake, caplog
):
    with MemoireClient(key, server.target) as admin:
        admin.revoke_api_key(key_id_of(key))
    client = memoire_for().wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"), "u1")
    with caplog.at_level(logging.INFO, logger="memoire"):
        for _ in range(4):
            result = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            assert result.choices[0].message.content == fake.reply
    [warning] = memoire_warnings(caplog)
    assert "API_KEY_REVOKED" in warning.getMessage()
    assert len(fake.requests) == 4

    strict = memoire_for(strict=True).wrap(
        openai.OpenAI(base_url=fake.openai_url, api_key="x"), "u1"
    )
    with pytest.raises(Unauthenticated) as caught:
        strict.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.reason == "API_KEY_REVOKED"
    assert len(fake.requests) == 4  # strict: no memory, no call


def test_the_breaker_lets_a_probe_through_and_closes_when_the_service_is_back(
    server, key, memoire_for, fake
):
    m = memoire_for(breaker=CircuitBreaker(failure_threshold=2, cooldown=0.2))
    for _ in range(m.breaker.failure_threshold):
        m.breaker.record_failure()
    assert m.breaker.state is BreakerState.OPEN
    client = m.wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"), "u1")
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
    time.sleep(0.25)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}])
    assert state_of(m) is BreakerState.CLOSED
    assert m.flush()
    assert [t for r, t in turns(server, key, "u1") if r == USER] == ["b"]


# --- the typed clients ----------------------------------------------------------------------


def test_the_blocking_client_covers_every_rpc(server, key):
    with MemoireClient(key, server.target, timeout=30) as c:
        assert c.create_user("ada", metadata={"plan": "pro"}).created
        assert c.create_session("ada", "s1").created
        ingested = c.ingest(
            "ada",
            [
                {"role": "user", "content": "I moved to Lyon.", "client_message_id": "m1"},
                {"role": "assistant", "content": "Bienvenue!", "client_message_id": "m2"},
            ],
            session_id="s1",
        )
        assert len(ingested.message_ids) == 2
        again = c.ingest("ada", [{"content": "I moved to Lyon.", "client_message_id": "m1"}])
        assert again.duplicate_count == 1
        [fact] = c.add_memories(
            "ada", [pb.FactInput(content="Lives in Lyon", slot="location.home", essential=True)]
        ).memories
        assert "Lives in Lyon" in c.conscious("ada").prompt_block
        assert "I moved to Lyon." in [h.memory.content for h in c.recall("ada", "Lyon").hits]
        assert len(c.list_memories("ada").memories) == 3
        assert c.get_memory(fact.id).memory.content == "Lives in Lyon"
        assert len(c.get_memory_history(fact.id).events) == 1
        job = c.get_extraction(ingested.extraction_id).extraction
        assert job.state == memory_pb2.EXTRACTION_STATE_SKIPPED
        responses = list(
            c.observe_chat(
                [
                    pb.ObserveChatRequest(
                        start=pb.TurnStart(turn_id="t1", user_id="ada", user_message="Hi")
                    ),
                    pb.ObserveChatRequest(end=pb.TurnEnd(turn_id="t1", assistant_message="Hey")),
                ],
                timeout=30,
            )
        )
        assert [r.WhichOneof("event") for r in responses] == ["context", "stored", "update"]
        assert c.delete_memory(fact.id).memory_id == fact.id
        user_key = c.create_api_key(scope=account_pb2.API_KEY_SCOPE_USER, user_id="ada")
        rotated = c.rotate_api_key(user_key.api_key.id, overlap_seconds=0)
        assert rotated.secret != user_key.secret
        assert c.revoke_api_key(rotated.api_key.id).api_key.revoke_time.seconds > 0
        assert c.forget_user("ada").deleted_messages == 4


def test_errors_are_typed_with_the_servers_reason_and_fields(server, key):
    with MemoireClient(key, server.target) as c:
        with pytest.raises(NotFound) as missing:
            c.get_memory("00000000-0000-0000-0000-000000000000")
        assert missing.value.reason == "MEMORY_NOT_FOUND"
        assert missing.value.code is grpc.StatusCode.NOT_FOUND
        with pytest.raises(InvalidArgument) as bad:
            c.ingest("ada", [{"content": " "}])
        assert [v.field for v in bad.value.field_violations] == ["messages[0].content"]
    with MemoireClient("mem_nottherightkey_x", server.target) as c:
        with pytest.raises(Unauthenticated) as denied:
            c.conscious("ada")
        assert denied.value.reason == "API_KEY_INVALID"


def test_the_asyncio_client(server, key):
    async def main() -> None:
        async with AsyncMemoireClient(key, server.target, timeout=30) as c:
            await c.create_user("bo")
            await c.ingest("bo", [{"content": "I play the oboe.", "client_message_id": "x"}])
            hits = (await c.recall("bo", "oboe")).hits
            assert [h.memory.content for h in hits] == ["I play the oboe."]
            stream = c.observe_chat(timeout=30)
            await stream.write(
                pb.ObserveChatRequest(
                    start=pb.TurnStart(turn_id="t", user_id="bo", user_message="Hi")
                )
            )
            await stream.done_writing()
            assert [r.WhichOneof("event") async for r in stream] == ["context"]
            with pytest.raises(NotFound):
                await c.get_extraction("00000000-0000-0000-0000-000000000000")

    asyncio.run(main())


def test_reads_are_retried_while_the_service_restarts_and_writes_are_not(server, embedder, key):
    settings = server.running.app.settings
    first = server.loop.run(start(settings.model_copy(), embedder))
    port = first.port
    server.loop.run(first.stop(0))
    retry = RetryPolicy(max_attempts=50, initial_backoff=0.1, max_backoff=0.3)
    with MemoireClient(key, f"127.0.0.1:{port}", timeout=20, retry=retry) as c:
        with pytest.raises(Unavailable):  # no client id: a retry could store it twice
            c.ingest("u1", [{"content": "hello"}])

        restarted: list[Any] = []

        def restart() -> None:
            time.sleep(0.5)
            again = settings.model_copy(update={"grpc_port": port})
            restarted.append(server.loop.run(start(again, embedder)))

        thread = threading.Thread(target=restart)
        thread.start()
        try:
            assert c.conscious("u1").prompt_block == ""
        finally:
            thread.join()
            for running in restarted:
                server.loop.run(running.stop(0))
    assert restarted


# --- exports, apps and rate limits ------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(loop_thread, embedder, database_url, redis_server) -> Iterator[Server]:
    """A server with an admin key whose keys may write twice at once, then once every 2 s."""
    with own_server(
        loop_thread,
        embedder,
        database_url,
        redis_server.url,
        admin_key=ADMIN_KEY,
        rate_limit_writes_per_second=0.5,
        rate_limit_writes_burst=2,
    ) as server:
        yield server


def items_of(exported: list[pb.ExportUserResponse], kind: str) -> list[Any]:
    return [getattr(item, kind) for item in exported if item.WhichOneof("item") == kind]


def test_export_streams_the_user_first_then_everything_stored_about_them(server, key):
    with MemoireClient(key, server.target, timeout=30) as c:
        c.create_user("eve", metadata={"plan": "free"})
        c.create_session("eve", "s1")
        ingested = c.ingest(
            "eve", [{"content": "I moved to Oslo.", "client_message_id": "m1"}], session_id="s1"
        )
        [fact] = c.add_memories("eve", [pb.FactInput(content="Lives in Oslo")]).memories
        items = c.export_user("eve")
        first = next(items)  # the user arrives before the rest is read
        exported = [first, *items]
        with pytest.raises(NotFound) as missing:
            list(c.export_user("nobody"))
    assert missing.value.reason == "USER_NOT_FOUND"

    assert first.WhichOneof("item") == "user"
    assert first.user.id == "eve"
    assert dict(first.user.metadata) == {"plan": "free"}
    assert len(items_of(exported, "user")) == 1
    assert [s.id for s in items_of(exported, "session")] == ["s1"]
    assert [m.content for m in items_of(exported, "message")] == ["I moved to Oslo."]
    assert sorted(m.content for m in items_of(exported, "memory")) == [
        "I moved to Oslo.",
        "Lives in Oslo",
    ]
    assert fact.id in {e.memory_id for e in items_of(exported, "event")}
    assert [x.id for x in items_of(exported, "extraction")] == [ingested.extraction_id]


def test_the_asyncio_client_exports_a_user_as_a_stream(server, key):
    async def main() -> list[pb.ExportUserResponse]:
        async with AsyncMemoireClient(key, server.target, timeout=30) as c:
            await c.add_memories("fay", ["Grows figs"])
            exported = [item async for item in c.export_user("fay")]
            with pytest.raises(NotFound):
                [item async for item in c.export_user("nobody")]
            return exported

    exported = asyncio.run(main())
    assert exported[0].user.id == "fay"
    assert [m.content for m in items_of(exported, "memory")] == ["Grows figs"]


def test_an_app_created_with_the_admin_key_gets_a_key_that_works(limited):
    with MemoireClient(ADMIN_KEY, limited.target) as admin:
        made = admin.create_app(f"app-{uuid.uuid4()}", key_name="first key")
    assert made.app.id
    assert made.api_key.name == "first key"
    assert made.api_key.scope == account_pb2.API_KEY_SCOPE_APP
    with MemoireClient(made.api_key_secret, limited.target) as c:
        c.add_memories("gus", [pb.FactInput(content="Drinks green tea", essential=True)])
        assert "Drinks green tea" in c.conscious("gus").prompt_block

    with (
        MemoireClient("not-the-admin-key", limited.target) as stranger,
        pytest.raises(Unauthenticated) as denied,
    ):
        stranger.create_app(f"app-{uuid.uuid4()}")
    assert denied.value.reason == "ADMIN_KEY_INVALID"


def test_a_rate_limited_write_is_retried_once_the_server_allows_it_and_stored_once(limited):
    with MemoireClient(limited.new_app_key(), limited.target, timeout=10) as c:
        started = time.monotonic()
        for _ in range(2):  # invalid writes spend the burst of two too, and quickly
            with pytest.raises(InvalidArgument):
                c.ingest("hal", [{"content": " "}])
        with pytest.raises(ResourceExhausted) as refused:
            c.add_memories("hal", ["Not stored"])  # no request_id: a repeat might store it twice
        assert refused.value.reason == "RATE_LIMITED"
        assert refused.value.retry_delay is not None
        assert 0 < refused.value.retry_delay <= 2.0
        with pytest.raises(ResourceExhausted):  # the wait would outlast the call's deadline
            c.add_memories("hal", ["Lives in Oslo"], request_id="oslo", timeout=1.0)

        c.add_memories("hal", ["Lives in Oslo"], request_id="oslo")  # waits, then retries
        waited = time.monotonic() - started
        stored = [m.content for m in c.list_memories("hal").memories]
    assert stored == ["Lives in Oslo"]
    # After a burst of two, a third write is admitted 2 s after the first at the earliest
    # (by Redis's clock; the margin allows for the two clocks).
    assert waited >= 1.5


def test_the_asyncio_client_waits_out_a_rate_limit_too(limited):
    async def main() -> list[str]:
        async with AsyncMemoireClient(limited.new_app_key(), limited.target, timeout=10) as c:
            for n in (1, 2, 3):
                await c.add_memories("ida", [f"Fact {n}"], request_id=f"fact-{n}")
            page = await c.list_memories("ida")
            return sorted(m.content for m in page.memories)

    assert asyncio.run(main()) == ["Fact 1", "Fact 2", "Fact 3"]

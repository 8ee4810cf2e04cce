"""Hostile input never breaks the server: bad input is INVALID_ARGUMENT naming the field.

Hypothesis builds requests for every RPC from the proto descriptors: odd unicode, NULs, strings
on either side of each limit, huge and negative numbers, enum values nobody defined, timestamps
outside the years 1 to 9999, oversized batches and metadata maps, page tokens that were never
issued, missing and forged keys. They go to a real server over gRPC, and as random JSON to every
HTTP route through a real Envoy. No call may end INTERNAL (over HTTP, no 5xx), every
INVALID_ARGUMENT must name a field of its request, and afterwards the server must still ingest
and recall. The seed is printed, and MEMOIRE_FUZZ_SEED replays a run.
"""

import base64
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api import annotations_pb2  # type: ignore[import-untyped]
from google.protobuf import message_factory
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from memoire_core.config import Limits
from memoire_proto.v1 import account_pb2, account_service_pb2_grpc, memory_service_pb2_grpc
from memoire_proto.v1 import account_service_pb2 as apb
from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_stack.envoy import LocalEnvoy
from tests.integration.conftest import Api, Server, own_server
from tests.integration.helpers import Failure, fact, failure, failure_of, key_id_of, user_message

ROOT = Path(__file__).resolve().parents[2]
SERVICES = (
    pb.DESCRIPTOR.services_by_name["MemoryService"],
    apb.DESCRIPTOR.services_by_name["AccountService"],
)
# Codes that mean the server, not the caller, went wrong (or could not say what was wrong).
BROKEN = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,  # only a message over the size limit may earn it
    grpc.StatusCode.DEADLINE_EXCEEDED,  # a hang: bad input must be refused at once
}
GRPC_CALLS = 8_300
HTTP_CALLS = 1_700
BATCH = 50
IN_FLIGHT = 16
# Generous: a query of 4 KiB of accented text takes the local model seconds to embed.
CALL_SECONDS = 60
USER = "fuzz-user"


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        # Each example is a batch of calls whose failures name the request; shrinking a batch
        # of network calls would take minutes and say no more.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def run_seed() -> int:
    chosen = int(os.environ.get("MEMOIRE_FUZZ_SEED") or random.getrandbits(32))
    print(f"fuzz seed {chosen} (MEMOIRE_FUZZ_SEED={chosen} replays this run)")
    return chosen


# --- the server under fuzz, and things worth naming in requests ------------------------------


@dataclass
class World:
    """A server with data in it, and the ids and keys a fuzzed request may name."""

    server: Server
    channel: grpc.Channel
    app_key: str
    user_key: str
    memory_ids: list[str]
    extraction_ids: list[str]
    key_ids: list[str]
    page_tokens: list[str]

    def api(self, key: str | None) -> Api:
        return Api(self.channel, key)

    @property
    def limits(self) -> Limits:
        return self.server.running.app.settings.limits


@pytest.fixture(scope="module")
def world(loop_thread, embedder, database_url, redis_server) -> Iterator[World]:
    # Vectors are not what is fuzzed: new memories are not embedded, so calls stay fast; and
    # with no LLM every extraction is SKIPPED at once, so no stream waits for one.
    with (
        own_server(
            loop_thread,
            embedder,
            database_url,
            redis_server.url,
            embed_in_server=False,
            llm_model="",
        ) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        app_key = server.new_app_key()
        app = Api(channel, app_key)
        stored = app.memory.Ingest(
            pb.IngestRequest(
                user_id=USER,
                messages=[user_message(f"I like green tea, cup {i}.") for i in range(3)],
            )
        )
        facts = app.memory.AddMemories(
            pb.AddMemoriesRequest(
                user_id=USER, facts=[fact("Lives in Dallas", "location.home", essential=True)]
            )
        ).memories
        page = app.memory.ListMemories(pb.ListMemoriesRequest(user_id=USER, page_size=1))
        made = app.accounts.CreateUser(apb.CreateUserRequest(user_id=USER, issue_api_key=True))
        # Keys the fuzz may rotate or revoke; the keys it calls with are never among them.
        spare = [
            app.accounts.CreateApiKey(
                apb.CreateApiKeyRequest(scope=account_pb2.API_KEY_SCOPE_USER, user_id="spare")
            ).secret
            for _ in range(3)
        ]
        memories = app.memory.ListMemories(pb.ListMemoriesRequest(user_id=USER)).memories
        yield World(
            server=server,
            channel=channel,
            app_key=app_key,
            user_key=made.api_key_secret,
            memory_ids=[m.id for m in memories] + [m.id for m in facts],
            extraction_ids=[stored.extraction_id],
            key_ids=[key_id_of(s) for s in spare],
            page_tokens=[page.next_page_token],
        )


# --- strategies built from the descriptors ---------------------------------------------------

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# Lengths on either side of every limit in Limits, in characters (odd ones make bytes too).
SIZES = (15, 16, 17, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 2049, 4096, 4097, 32768, 32769)
# Strings on either side of every limit, of characters one, two and four UTF-8 bytes long.
LONG_TEXTS = tuple(char * size for char in ("a", "é", "𝄞", " ", "\x00") for size in SIZES)
ODD_TEXTS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\n",
    "\u202e",
    "\ufeff",
    "\u2028",
    "é",
    "𝄞",
    "日本語",
    "../../etc/passwd",
    "%00",
    "'; DROP TABLE memories; --",
    "null",
    "{}",
    "ROLE_USER",
    "00000000-0000-0000-0000-000000000000",
)
# Page tokens: base64url of JSON that decodes to something other than what the API issues.
FORGED_TOKENS = [
    base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    for raw in (
        "[",
        "[" * 5000,
        "[]",
        '["", ""]',
        '["9999-12-31T23:59:59-23:59", "01900000-0000-7000-8000-000000000000"]',
        '["0001-01-01T00:00:00+23:59", "01900000-0000-7000-8000-000000000000"]',
        '["2024-01-01T00:00:00", "01900000-0000-7000-8000-000000000000"]',
        '["2024-01-01T00:00:00+00:00", "not-a-uuid"]',
        "[1, 2]",
        '{"a": 1}',
        "\u00ff\u00fe",
    )
] + ["!!!", "a", "=" * 9, "\x00", "é" * 300]

# Values that pass validation, per field name, so that requests also reach the database.
PLAIN: dict[str, list[str]] = {
    "user_id": [USER, "other-user"],
    "session_id": ["", "s1"],
    "content": ["I like green tea.", "Lives in Dallas"],
    "query": ["what do I drink?"],
    "user_message": ["Where do I live?"],
    "assistant_message": ["In Dallas."],
    "turn_id": ["t1"],
    "text": ["In Dal", "las."],
    "slot": ["", "location.home", "pet", "preference.tea"],
    "category": ["", "location"],
    "categories": ["location"],
    "language": ["", "en"],
    "value": ["", "Dallas"],
    "name": ["phone"],
    "key_name": ["first"],
}


def texts(name: str, world: World) -> st.SearchStrategy[str]:
    """Strings for a field: a third plain, a third odd or around a limit, a third any text."""
    named = {
        "memory_id": world.memory_ids,
        "extraction_id": world.extraction_ids,
        "key_id": world.key_ids,
        "page_token": world.page_tokens + FORGED_TOKENS,
    }
    plain = named.get(name) or PLAIN.get(name) or [""]
    if name.endswith("_id"):
        plain = [*plain, str(uuid.uuid4())]
    return st.one_of(
        st.sampled_from(plain), st.sampled_from(ODD_TEXTS + LONG_TEXTS), st.text(max_size=12)
    )


def integers(bounds: tuple[int, int]) -> st.SearchStrategy[int]:
    edges = [0, 1, -1, 8, 10, 50, 51, 100, 101, 500, 501, 86_400, 2_592_001, *bounds]
    return st.one_of(st.sampled_from(edges), st.integers(*bounds))


TIMESTAMPS = st.builds(
    Timestamp,
    seconds=st.one_of(
        st.sampled_from([0, 1_700_000_000, -62_135_596_800, 253_402_300_799, 253_402_300_800]),
        st.integers(*INT64),
    ),
    nanos=st.one_of(st.sampled_from([0, 999_999_999, 1_000_000_000, -1]), st.integers(*INT32)),
)
# Items for an oversized batch: each is fine, only their number is not.
PLAIN_ITEMS: dict[str, Any] = {
    "messages": user_message("hi"),
    "facts": pb.FactInput(content="hi"),
}


def values(f: Any, world: World, depth: int) -> st.SearchStrategy[Any]:
    """Values for one field of a request (a whole list for a repeated one)."""
    if f.type == f.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
        entries = st.dictionaries(texts("", world), texts("", world), max_size=3)
        too_many = {f"k{i}": "v" for i in range(world.limits.metadata_keys + 1)}
        return st.one_of(entries, st.just(too_many))
    one = value_of(f, world, depth)
    if not f.is_repeated:
        return one
    plain = PLAIN_ITEMS.get(f.name)
    oversized = st.just([plain] * (world.limits.batch_size + 1)) if plain else st.nothing()
    return st.one_of(st.lists(one, max_size=3), oversized)


def value_of(f: Any, world: World, depth: int) -> st.SearchStrategy[Any]:
    kinds: dict[int, st.SearchStrategy[Any]] = {
        f.TYPE_STRING: texts(f.name, world),
        f.TYPE_BOOL: st.booleans(),
        f.TYPE_INT32: integers(INT32),
        f.TYPE_INT64: integers(INT64),
        f.TYPE_DOUBLE: st.one_of(st.sampled_from([0.0, 0.5, 1.0, 1.0000001, -0.0]), st.floats()),
        f.TYPE_ENUM: integers(INT32),
    }
    if f.type in kinds:
        return kinds[f.type]
    if f.message_type.full_name == "google.protobuf.Timestamp":
        return TIMESTAMPS
    return messages(f.message_type, world, depth + 1)


def messages(descriptor: Any, world: World, depth: int = 0) -> st.SearchStrategy[Any]:
    """Messages of a type with any subset of their fields set to fuzzed values."""
    cls = message_factory.GetMessageClass(descriptor)
    fields = {} if depth > 2 else {f.name: values(f, world, depth) for f in descriptor.fields}
    return st.fixed_dictionaries({}, optional=fields).map(lambda kwargs: cls(**kwargs))


# --- calls over gRPC ----------------------------------------------------------------------------


class Call:
    """One fuzzed call: the RPC, the request and the key it goes with."""

    def __init__(self, service: Any, method: Any, request: Any, key: str | None) -> None:
        self.service = service
        self.method = method
        self.request = request
        self.key = key

    def __repr__(self) -> str:
        text = str(self.request).replace("\n", " ")
        shown = text if len(text) < 300 else f"{text[:300]}... ({len(text)} characters)"
        return f"{self.method.name}({shown}) key={'none' if not self.key else self.key[:16]}"

    @property
    def streams(self) -> bool:
        return bool(self.method.client_streaming or self.method.server_streaming)


def calls(world: World) -> st.SearchStrategy[Call]:
    keys = st.sampled_from(
        [world.app_key] * 6 + [world.user_key, None, "mem_AAAAAAAAAAAA_forged", "not a key"]
    )
    options = []
    for service in SERVICES:
        for method in service.methods:
            if method.client_streaming:
                turns = st.lists(messages(method.input_type, world), min_size=1, max_size=4)
                request: st.SearchStrategy[Any] = turns
            else:
                request = messages(method.input_type, world)
            call = st.builds(Call, st.just(service), st.just(method), request, keys)
            if method.name == "ForgetUser":
                call = call.map(lambda c: forget_elsewhere(c, world))
            options.append(call)
    return st.one_of(options)


def forget_elsewhere(call: Call, world: World) -> Call:
    """Forget a user of the fuzz's own, so the run's users and user key stay usable; writes
    racing ForgetUser are tested in test_writes_racing_forget_user_never_end_internal."""
    if call.request.user_id in PLAIN["user_id"]:
        call.request.user_id = "forgettable"
    if call.key == world.user_key:
        call.key = world.app_key
    return call


@dataclass
class Tally:
    """What the fuzz saw: every status, and every call that went wrong."""

    codes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, call: Call, outcome: Failure | None) -> None:
        code = grpc.StatusCode.OK if outcome is None else outcome.code
        with self.lock:
            self.codes[code.name] += 1
        if outcome is None:
            return
        problem = ""
        if code in BROKEN:
            problem = f"{code.name}: {outcome.message}"
        elif code == grpc.StatusCode.INVALID_ARGUMENT:
            problem = unnamed_fields(call, outcome)
        if problem:
            with self.lock:
                self.problems.append(f"{call!r} -> {problem}")

    @property
    def total(self) -> int:
        return sum(self.codes.values())


def unnamed_fields(call: Call, outcome: Failure) -> str:
    """Why an INVALID_ARGUMENT fails to name a field of its request ('' when it does)."""
    descriptor = call.method.input_type
    names = set(descriptor.fields_by_name) | set(descriptor.oneofs_by_name)
    if outcome.reason != "INVALID_ARGUMENT" or not outcome.fields:
        return f"INVALID_ARGUMENT without field violations: {outcome.message}"
    roots = {re.match(r"[a-z_]*", f).group() for f in outcome.fields}  # type: ignore[union-attr]
    if not roots <= names:
        return f"names fields {outcome.fields} that {descriptor.name} does not have"
    return ""


class Caller:
    """Sends calls with at most IN_FLIGHT outstanding; streams run on a few threads."""

    def __init__(self, world: World, tally: Tally) -> None:
        self.world = world
        self.tally = tally
        self.slots = threading.BoundedSemaphore(IN_FLIGHT)
        self.streams = ThreadPoolExecutor(4)
        self.memory = memory_service_pb2_grpc.MemoryServiceStub(world.channel)
        self.accounts = account_service_pb2_grpc.AccountServiceStub(world.channel)

    def stub(self, call: Call) -> Any:
        service = self.accounts if call.service.name == "AccountService" else self.memory
        return getattr(service, call.method.name)

    def metadata(self, call: Call) -> list[tuple[str, str]]:
        return [("x-api-key", call.key)] if call.key else []

    def send(self, call: Call) -> None:
        self.slots.acquire()
        if call.streams:
            self.streams.submit(self._stream, call).add_done_callback(
                lambda _: self.slots.release()
            )
            return
        future = self.stub(call).future(
            call.request, metadata=self.metadata(call), timeout=CALL_SECONDS
        )
        future.add_done_callback(lambda done: self._unary_done(call, done))

    def _unary_done(self, call: Call, done: Any) -> None:
        try:
            error = done.exception()
            self.tally.record(call, failure_of(error) if error else None)
        finally:
            self.slots.release()

    def _stream(self, call: Call) -> None:
        # ObserveChat takes the list of its requests; ExportUser one request.
        request = iter(call.request) if call.method.client_streaming else call.request
        stream = self.stub(call)(request, metadata=self.metadata(call), timeout=CALL_SECONDS)
        try:
            for _ in stream:
                pass
        except grpc.RpcError as error:
            self.tally.record(call, failure_of(error))
        else:
            self.tally.record(call, None)

    def drain(self) -> None:
        for _ in range(IN_FLIGHT):
            self.slots.acquire()
        for _ in range(IN_FLIGHT):
            self.slots.release()

    def close(self) -> None:
        self.drain()
        self.streams.shutdown()


def still_serves(world: World) -> None:
    """A plain ingest is recalled at once: the server survived."""
    api, user = world.api(world.app_key), f"survivor-{uuid.uuid4()}"
    api.memory.Ingest(pb.IngestRequest(user_id=user, messages=[user_message("Kiwis!")]))
    hits = api.memory.Recall(pb.RecallRequest(user_id=user, query="kiwis")).hits
    assert [h.memory.content for h in hits] == ["Kiwis!"]


def test_thousands_of_fuzzed_grpc_calls_never_end_internal(world):
    tally = Tally()
    caller = Caller(world, tally)
    started = time.monotonic()

    @seed(run_seed())
    @fuzz_settings(GRPC_CALLS // BATCH)
    @given(st.lists(calls(world), min_size=BATCH, max_size=BATCH))
    def batch(batch_calls: list[Call]) -> None:
        for call in batch_calls:
            caller.send(call)
        caller.drain()

    try:
        batch()
    finally:
        caller.close()
        print(f"{tally.total} gRPC calls in {time.monotonic() - started:.1f}s: {dict(tally.codes)}")
    assert not tally.problems, "\n".join(tally.problems[:40])
    assert tally.total >= GRPC_CALLS
    still_serves(world)


# --- the limits, one by one ----------------------------------------------------------------------


def sized(n: int, letter: str = "é") -> str:
    """Exactly ``n`` bytes of UTF-8 in words of six letters (two bytes each by default: limits
    count bytes)."""
    words = f"{letter * 6} " * (n // len(f"{letter * 6} ".encode()))
    return words + "a" * (n - len(words.encode()))


def ingest_one(api: Api, user: str = USER, **message: Any) -> Any:
    content = message.pop("content", "hello")
    session = message.pop("session_id", "")
    request = pb.IngestRequest(
        user_id=user, session_id=session, messages=[user_message(content, **message)]
    )
    return api.memory.Ingest(request)


def add_one(api: Api, content: str = "Likes tea", request_id: str = "") -> Any:
    request = pb.AddMemoriesRequest(user_id=USER, facts=[fact(content)], request_id=request_id)
    return api.memory.AddMemories(request)


def history(api: Api, memory_id: str, page_size: int) -> Any:
    request = pb.GetMemoryHistoryRequest(memory_id=memory_id, page_size=page_size)
    return api.memory.GetMemoryHistory(request)


# (limit, the field it guards, a call that puts n units against it); ids count characters
# (sent as two-byte ones), texts bytes.
LIMITS: list[tuple[str, str, Callable[[Api, str, int], Any]]] = [
    (
        "content_bytes",
        "messages[0].content",
        lambda api, memory_id, n: ingest_one(api, content=sized(n)),
    ),
    ("fact_bytes", "facts[0].content", lambda api, memory_id, n: add_one(api, sized(n))),
    (
        "query_bytes",
        "query",
        # In plain words: the query is embedded, and the model reads accented runs slowly.
        lambda api, memory_id, n: api.memory.Recall(
            pb.RecallRequest(user_id=USER, query=sized(n, "a"))
        ),
    ),
    (
        "batch_size",
        "messages",
        lambda api, memory_id, n: api.memory.Ingest(
            pb.IngestRequest(user_id=USER, messages=[user_message(f"m{i}") for i in range(n)])
        ),
    ),
    (
        "batch_size",
        "facts",
        lambda api, memory_id, n: api.memory.AddMemories(
            pb.AddMemoriesRequest(user_id=USER, facts=[fact(f"Fact {i}") for i in range(n)])
        ),
    ),
    ("id_chars", "user_id", lambda api, memory_id, n: ingest_one(api, user="é" * n)),
    ("id_chars", "session_id", lambda api, memory_id, n: ingest_one(api, session_id="é" * n)),
    (
        "id_chars",
        "messages[0].client_message_id",
        lambda api, memory_id, n: ingest_one(api, client_id="é" * n),
    ),
    ("id_chars", "request_id", lambda api, memory_id, n: add_one(api, request_id="é" * n)),
    (
        "metadata_keys",
        "messages[0].metadata",
        lambda api, memory_id, n: ingest_one(api, metadata={f"k{i}": "v" for i in range(n)}),
    ),
    (
        "metadata_key_bytes",
        "messages[0].metadata[{key!r}]",
        lambda api, memory_id, n: ingest_one(api, metadata={sized(n): "v"}),
    ),
    (
        "metadata_value_bytes",
        "messages[0].metadata['k']",
        lambda api, memory_id, n: ingest_one(api, metadata={"k": sized(n)}),
    ),
    (
        "page_size",
        "page_size",
        lambda api, memory_id, n: api.memory.ListMemories(
            pb.ListMemoriesRequest(user_id=USER, page_size=n)
        ),
    ),
    ("page_size", "page_size", history),
    (
        "recall_limit",
        "limit",
        lambda api, memory_id, n: api.memory.Recall(
            pb.RecallRequest(user_id=USER, query="tea", limit=n)
        ),
    ),
]


@pytest.mark.parametrize(("limit", "field", "send"), LIMITS, ids=[f"{f}" for _, f, _ in LIMITS])
def test_each_limit_admits_its_maximum_and_refuses_one_more_naming_the_field(
    world, limit, field, send
):
    api = world.api(world.server.new_app_key())
    (memory,) = add_one(api).memories
    most = getattr(world.limits, limit)

    send(api, memory.id, most)
    refused = failure(lambda: send(api, memory.id, most + 1))

    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.reason == "INVALID_ARGUMENT"
    assert refused.fields == [field.format(key=sized(most + 1))]


def test_a_request_over_the_message_size_limit_is_resource_exhausted_and_the_server_serves_on(
    world,
):
    api = world.api(world.app_key)
    too_big = world.server.running.app.settings.grpc_max_message_bytes + 1

    refused = failure(lambda: ingest_one(api, content="a" * too_big))

    assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    still_serves(world)


def test_calls_past_their_deadline_end_deadline_exceeded_and_the_server_serves_on(world):
    stub = memory_service_pb2_grpc.MemoryServiceStub(world.channel)
    metadata = [("x-api-key", world.app_key)]
    # From one millisecond (gone before the server sees it) to forty (cut mid-recall).
    futures = [
        stub.Recall.future(
            pb.RecallRequest(user_id=USER, query=f"what do I drink, {ms}?"),
            metadata=metadata,
            timeout=ms / 1000,
        )
        for ms in range(1, 41)
    ]
    codes = Counter(f.exception().code() if f.exception() else grpc.StatusCode.OK for f in futures)

    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED}, codes
    assert codes[grpc.StatusCode.DEADLINE_EXCEEDED] > 0
    # Every call cut short gave its database connection back: more calls than the pool holds.
    api = world.api(world.app_key)
    for _ in range(3 * world.server.running.app.settings.db_pool_size):
        api.memory.ListMemories(pb.ListMemoriesRequest(user_id=USER, page_size=1))
    still_serves(world)


# --- random JSON through Envoy --------------------------------------------------------------------


@pytest.fixture(scope="module")
def envoy(world: World, scratch: Path) -> Iterator[str]:
    """Envoy's base URL, in front of the fuzzed server."""
    descriptor = scratch / "envoy-fuzz" / "memoire.pb"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_descriptor.py"), "--out", str(descriptor)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    proxy = LocalEnvoy(scratch / "envoy-fuzz", world.server.running.port, descriptor=descriptor)
    url = proxy.start()
    yield url
    proxy.stop()


@dataclass(frozen=True)
class Route:
    """One HTTP route of an RPC, from its google.api.http annotation."""

    verb: str
    template: str
    body: bool
    method: Any


def routes() -> list[Route]:
    found = []
    for service in SERVICES:
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            verb = rule.WhichOneof("pattern")
            if verb:
                found.append(Route(verb.upper(), getattr(rule, verb), bool(rule.body), method))
    return found


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(ODD_TEXTS),
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
JSON_TIMES = st.sampled_from(
    [
        "2024-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
        "0000-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "2024-13-45T99:99:99Z",
        "2024-01-01T00:00:00+25:00",
        "yesterday",
    ]
)
JSON_INTEGERS = st.one_of(
    integers(INT64),
    integers(INT64).map(str),
    st.sampled_from(["99999999999999999999999", "1e309", "-0", "0x10", "1.5", ""]),
)


def json_value(f: Any, world: World, depth: int) -> st.SearchStrategy[Any]:
    """A JSON value for a field: mostly of the field's type, sometimes anything at all."""
    if f.type == f.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
        typed: st.SearchStrategy[Any] = st.dictionaries(texts("", world), texts("", world))
    elif f.type == f.TYPE_MESSAGE and f.message_type.full_name == "google.protobuf.Timestamp":
        typed = JSON_TIMES
    elif f.type == f.TYPE_MESSAGE:
        typed = json_object(f.message_type, world, depth + 1)
    elif f.type == f.TYPE_ENUM:
        names = [v.name for v in f.enum_type.values]
        typed = st.one_of(st.sampled_from(names), integers(INT32), st.text(max_size=12))
    elif f.type == f.TYPE_STRING:
        typed = texts(f.name, world)
    elif f.type == f.TYPE_BOOL:
        typed = st.one_of(st.booleans(), st.sampled_from(["true", "yes", 1]))
    elif f.type == f.TYPE_DOUBLE:
        typed = st.one_of(st.floats(), st.sampled_from(["NaN", "Infinity", "1e400"]))
    else:
        typed = JSON_INTEGERS
    is_map = f.type == f.TYPE_MESSAGE and f.message_type.GetOptions().map_entry
    if f.is_repeated and not is_map:
        typed = st.lists(typed, max_size=3)
    return st.one_of(typed, typed, ANY_JSON)


def json_object(descriptor: Any, world: World, depth: int = 0) -> st.SearchStrategy[Any]:
    """A JSON object with any subset of a message's fields, by proto or JSON name."""
    if depth > 2:
        return st.just({})
    fields = {}
    for f in descriptor.fields:
        fields[f.name] = json_value(f, world, depth)
        if f.json_name != f.name:
            fields[f.json_name] = json_value(f, world, depth)
    return st.fixed_dictionaries({}, optional=fields)


class HttpCall:
    """One request through Envoy."""

    def __init__(self, verb: str, path: str, body: bytes | None, key: str | None) -> None:
        self.verb = verb
        self.path = path
        self.body = body
        self.key = key

    def __repr__(self) -> str:
        body = repr(self.body[:300]) if self.body is not None else "-"
        return f"{self.verb} {self.path[:300]} body={body} key={bool(self.key)}"


def http_calls(world: World) -> st.SearchStrategy[HttpCall]:
    keys = st.sampled_from([world.app_key] * 6 + [world.user_key, None, "not a key"])
    return st.one_of([http_call(route, world, keys) for route in routes()])


def http_call(
    route: Route, world: World, keys: st.SearchStrategy[str | None]
) -> st.SearchStrategy[HttpCall]:
    names = re.findall(r"{(\w+)}", route.template)
    params = st.fixed_dictionaries({n: texts(n, world) for n in names})
    fields = json_object(route.method.input_type, world)
    bodies: st.SearchStrategy[str | bytes | None]
    if route.body:
        bodies = st.one_of(
            fields.map(json.dumps),
            ANY_JSON.map(json.dumps),
            st.sampled_from(['{"user_id": ', "[" * 1000, "", "{}", "null", '"\\ud800"']),
            st.binary(max_size=40),
        )
        query: st.SearchStrategy[dict[str, Any]] = st.just({})
    else:
        bodies = st.none()
        query = st.one_of(fields, st.dictionaries(st.text(max_size=8), st.text(max_size=8)))

    def build(values: dict[str, str], body: Any, args: dict[str, Any], key: str | None) -> HttpCall:
        path = route.template
        for name, value in values.items():
            path = path.replace(f"{{{name}}}", urllib.parse.quote(value, safe=""))
        flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}
        if flat:
            path += "?" + urllib.parse.urlencode(flat)
        data = body.encode() if isinstance(body, str) else body
        return HttpCall(route.verb, path, data, key)

    made = st.builds(build, params, bodies, query, keys)
    if route.method.name == "ForgetUser":
        made = made.map(lambda c: forget_elsewhere_over_http(c, world))
    return made


def forget_elsewhere_over_http(call: HttpCall, world: World) -> HttpCall:
    """As ``forget_elsewhere``, for HTTP calls."""
    for user in PLAIN["user_id"]:
        call.path = call.path.replace(f"/v1/users/{user}:", "/v1/users/forgettable:")
    if call.key == world.user_key:
        call.key = world.app_key
    return call


def send_http(base: str, call: HttpCall) -> int:
    headers = {"x-api-key": call.key} if call.key else {}
    if call.body is not None:
        headers["content-type"] = "application/json"
    request = urllib.request.Request(
        base + call.path, data=call.body, method=call.verb, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=CALL_SECONDS) as response:
            response.read()
            status: int = response.status
    except urllib.error.HTTPError as error:
        with error:
            error.read()
            status = error.code
    return status


def test_random_json_at_every_route_through_envoy_never_gets_a_5xx(world, envoy):
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    started = time.monotonic()

    with ThreadPoolExecutor(8) as pool:

        @seed(run_seed())
        @fuzz_settings(HTTP_CALLS // BATCH)
        @given(st.lists(http_calls(world), min_size=BATCH, max_size=BATCH))
        def batch(batch_calls: list[HttpCall]) -> None:
            for call, status in zip(
                batch_calls, pool.map(lambda c: send_http(envoy, c), batch_calls), strict=True
            ):
                statuses[status] += 1
                if status >= 500:
                    problems.append(f"{call!r} -> {status}")

        batch()

    print(f"{statuses.total()} HTTP calls in {time.monotonic() - started:.1f}s: {dict(statuses)}")
    assert not problems, "\n".join(problems[:40])
    assert statuses.total() >= HTTP_CALLS
    still_serves(world)


# --- known failures: each names where the fix belongs --------------------------------------------


def test_an_overlap_beyond_any_date_is_invalid_argument(world):
    api = world.api(world.app_key)
    request = apb.RotateApiKeyRequest(key_id=world.key_ids[0], overlap_seconds=2**63 - 1)

    refused = failure(lambda: api.accounts.RotateApiKey(request))

    assert (refused.code, refused.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["overlap_seconds"])


def test_a_hundred_bad_messages_are_refused_as_invalid_argument(world):
    api = world.api(world.app_key)
    bad = [pb.MessageInput(content="") for _ in range(world.limits.batch_size)]

    refused = failure(lambda: api.memory.Ingest(pb.IngestRequest(user_id=USER, messages=bad)))

    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    # The first violations are named; the status says how many more there were.
    assert refused.fields[0] == "messages[0].role"
    assert len(refused.fields) == 20
    assert "more" in refused.message


def test_a_request_that_is_not_a_valid_message_is_invalid_argument(world):
    recall = world.channel.unary_unary("/memoire.v1.MemoryService/Recall")
    user_id_of_invalid_utf8 = b"\x0a\x02\xff\xfe"

    with pytest.raises(grpc.RpcError) as caught:
        recall(user_id_of_invalid_utf8, metadata=[("x-api-key", world.app_key)], timeout=10)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_writes_racing_forget_user_never_end_internal(world):
    key = world.server.new_app_key()
    memory = memory_service_pb2_grpc.MemoryServiceStub(world.channel)
    accounts = account_service_pb2_grpc.AccountServiceStub(world.channel)
    metadata = [("x-api-key", key)]
    codes: Counter[grpc.StatusCode] = Counter()
    for turn in range(20):
        (fact_memory,) = add_one(world.api(key)).memories
        writes = [
            accounts.CreateSession.future(
                apb.CreateSessionRequest(user_id=USER, session_id=f"s{turn}"), metadata=metadata
            ),
            memory.DeleteMemory.future(
                pb.DeleteMemoryRequest(memory_id=fact_memory.id), metadata=metadata
            ),
            memory.ForgetUser.future(pb.ForgetUserRequest(user_id=USER), metadata=metadata),
            memory.AddMemories.future(
                pb.AddMemoriesRequest(user_id=USER, facts=[fact(f"Fact {turn}")]),
                metadata=metadata,
            ),
            memory.Ingest.future(
                pb.IngestRequest(user_id=USER, messages=[user_message(f"Turn {turn}")]),
                metadata=metadata,
            ),
            accounts.CreateApiKey.future(
                apb.CreateApiKeyRequest(scope=account_pb2.API_KEY_SCOPE_USER, user_id=USER),
                metadata=metadata,
            ),
        ]
        codes.update(w.exception().code() if w.exception() else grpc.StatusCode.OK for w in writes)

    assert codes[grpc.StatusCode.INTERNAL] == 0, codes


def test_an_id_too_long_for_any_header_is_refused_through_envoy_without_a_retry_hint(world, envoy):
    call = HttpCall("GET", "/v1/memories/" + "a" * 20_000, None, world.app_key)

    statuses = {send_http(envoy, call) for _ in range(3)}

    assert statuses <= {400, 414, 431}

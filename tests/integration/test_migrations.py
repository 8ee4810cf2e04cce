"""Migrations take an empty database to the schema the code expects, and back down."""

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from memoire_cli import migrate
from memoire_core.db.tables import metadata
from tests.integration.conftest import fresh_database


def run(coro):
    return asyncio.run(coro)


async def tables_and_drift(url: str) -> tuple[set[str], list[object]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def look(sync_conn):
                names = set(inspect(sync_conn).get_table_names())
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return names, compare_metadata(context, metadata)

            return await conn.run_sync(look)
    finally:
        await engine.dispose()


async def index_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
            )
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


def test_upgrade_builds_exactly_the_schema_of_the_code_and_downgrade_removes_it(postgres):
    url = fresh_database(postgres, "migrations_check", migrated=False)

    migrate.upgrade(url)
    tables, drift = run(tables_and_drift(url))
    assert {
        "users",
        "api_keys",
        "sessions",
        "messages",
        "memories",
        "memory_events",
        "memory_embeddings",
        "extraction_jobs",
    } <= tables
    assert drift == []
    indexes = run(index_names(url))
    assert {
        "ix_memories_user_lexemes",
        "ix_memories_user_id_created_at_id",
        "ix_memory_embeddings_user_id_model",
    } <= indexes

    migrate.downgrade(url, "base")
    tables, _ = run(tables_and_drift(url))
    assert tables == {"alembic_version"}

    migrate.upgrade(url)
    tables, drift = run(tables_and_drift(url))
    assert "memories" in tables and drift == []

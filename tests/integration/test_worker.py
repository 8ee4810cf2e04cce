"""A real Celery worker process takes tasks from Redis and does the core's work."""

import asyncio
import time

import pytest
from celery import Celery
from sqlalchemy import func, select

from memoire_core.config import Limits
from memoire_core.db.engine import make_engine, make_session_factory
from memoire_core.db.repos import accounts
from memoire_core.db.tables import memories
from memoire_core.domain import MessageIn, Role
from memoire_core.errors import Violations
from memoire_core.services.ingest import ingest, validate_ingest
from tests.integration.conftest import fresh_database
from tests.integration.helpers import start_memoire


@pytest.fixture
def worker_database(postgres):
    """A database of its own, so no server's background embedder races the worker."""
    return fresh_database(postgres, "worker_check")


async def seed_episodes(url: str, contents: list[str]) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        async with make_session_factory(engine)() as db, db.begin():
            app_id = await accounts.get_or_create_app(db, "worker-test")
            user, _, _ = await accounts.get_or_create_user(db, app_id, "u1")
            messages = [MessageIn(Role.USER, c) for c in contents]
            command = validate_ingest("", messages, True, Limits(), Violations())
            await ingest(db, user, command, extraction_enabled=False)
    finally:
        await engine.dispose()


async def owed_and_embedded(url: str) -> tuple[int, int]:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            owed = (
                await conn.execute(select(func.count()).where(memories.c.embedded_with.is_(None)))
            ).scalar_one()
            done = (
                await conn.execute(
                    select(func.count()).where(memories.c.embedded_with.is_not(None))
                )
            ).scalar_one()
            return owed, done
    finally:
        await engine.dispose()


def test_the_worker_embeds_memories_when_the_task_arrives_through_redis(
    worker_database, redis_server, scratch
):
    asyncio.run(seed_episodes(worker_database, ["I moved to Lisbon.", "I play the cello."]))
    assert asyncio.run(owed_and_embedded(worker_database)) == (2, 0)

    worker = start_memoire(
        ["worker"], worker_database, redis_server.url, scratch / "worker", vector_index="none"
    )
    try:
        client = Celery(broker=redis_server.url)
        client.send_task("memoire.embed_owed", queue="maintenance")
        deadline = time.monotonic() + 60
        while asyncio.run(owed_and_embedded(worker_database)) != (0, 2):
            assert worker.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the worker did not embed the memories"
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)

"""A write's effects outside the database follow its commit, against real Postgres and Redis: a
write that rolls back queues no job and retires no cached answer; one that commits does both."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from memoire_adapters.cache import ConsciousCache
from memoire_core.config import Limits
from memoire_core.db.engine import make_engine
from memoire_core.db.repos import accounts, jobs
from memoire_core.domain import FactIn, JobState, MessageIn, Role, UserRef
from memoire_core.errors import Violations
from memoire_core.services.facts import add_facts
from memoire_core.services.ingest import ingest, validate_ingest
from memoire_core.slots import SlotRegistry
from memoire_core.unit_of_work import Effects, sessions_with_effects
from memoire_server.jobs import ExtractionQueue
from tests.integration.helpers import cache_an_answer, cached_answer, queued_extractions

VARIANT = "limit-10"
ANSWER = b"the cached Conscious answer"


class Abandoned(Exception):
    """Raised inside a transaction to make it roll back."""


@dataclass
class World:
    """Sessions whose effects reach the real cache and queue, and a way to look at both."""

    sessions: async_sessionmaker[AsyncSession]
    cache: ConsciousCache
    redis: redis.Redis

    def queued(self, job_id: uuid.UUID) -> bool:
        """Whether the broker holds an extraction task for the job."""
        return str(job_id) in queued_extractions(self.redis)

    async def eventually_queued(self, job_id: uuid.UUID) -> None:
        # The hand-off to the broker runs in the background, so a reply never waits on it.
        for _ in range(200):
            if self.queued(job_id):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"job {job_id} was never queued")

    async def new_user_with_cached_answer(self) -> UserRef:
        async with self.sessions() as db, db.begin():
            app_id = await accounts.get_or_create_app(db, f"effects-{uuid.uuid4()}")
            user, _, _ = await accounts.get_or_create_user(db, app_id, "u1")
        await cache_an_answer(self.cache, user.id, VARIANT, ANSWER)
        return user

    async def cached_answer(self, user: UserRef) -> bytes | None:
        return await cached_answer(self.cache, user.id, VARIANT)

    async def job_state(self, job_id: uuid.UUID) -> JobState | None:
        async with self.sessions() as db:
            return (await jobs.job_states(db, [job_id])).get(job_id)

    async def tell_and_add_a_fact(self, user: UserRef, *, abandon: bool) -> uuid.UUID:
        """Ingest a message (a job to queue) and add a fact (answers to retire) in one
        transaction, abandoned before its commit when asked; returns the job's id."""
        said = "I moved to Lisbon."
        command = validate_ingest("", [MessageIn(Role.USER, said)], False, Limits(), Violations())
        try:
            async with self.sessions() as db, db.begin():
                result = await ingest(db, user, command, extraction_enabled=True)
                await add_facts(db, user, [FactIn("Lives in Lisbon")], SlotRegistry(), "")
                if abandon:
                    raise Abandoned
        except Abandoned:
            pass
        assert result.extraction_id is not None
        return result.extraction_id


@asynccontextmanager
async def world(database_url: str, redis_url: str) -> AsyncIterator[World]:
    engine = make_engine(database_url, pool_size=2)
    cache, queue = ConsciousCache(redis_url), ExtractionQueue(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        yield World(sessions_with_effects(engine, Effects(cache, queue)), cache, client)
    finally:
        client.close()
        queue.close()
        await cache.close()
        await engine.dispose()


def test_a_write_that_rolls_back_queues_no_job_and_keeps_the_cached_answers(
    database_url, redis_server
):
    async def scenario() -> tuple[JobState | None, bool, bytes | None]:
        async with world(database_url, redis_server.url) as w:
            user = await w.new_user_with_cached_answer()
            abandoned = await w.tell_and_add_a_fact(user, abandon=True)
            # A write that commits afterwards: once its job is on the queue, the abandoned one
            # would be there too, had it been sent.
            witness = await w.new_user_with_cached_answer()
            await w.eventually_queued(await w.tell_and_add_a_fact(witness, abandon=False))
            return await w.job_state(abandoned), w.queued(abandoned), await w.cached_answer(user)

    state, queued, answer = asyncio.run(scenario())

    assert state is None
    assert not queued
    assert answer == ANSWER


def test_a_committed_write_queues_its_job_and_retires_the_cached_answers(
    database_url, redis_server
):
    async def scenario() -> tuple[JobState | None, bytes | None]:
        async with world(database_url, redis_server.url) as w:
            user = await w.new_user_with_cached_answer()
            job = await w.tell_and_add_a_fact(user, abandon=False)
            await w.eventually_queued(job)
            return await w.job_state(job), await w.cached_answer(user)

    state, answer = asyncio.run(scenario())

    assert state is JobState.PENDING
    assert answer is None

"""Extraction runs racing each other, decay and optimisation, driven through the core against
real Postgres and a scripted OpenAI-compatible provider reached through LiteLLM."""

import asyncio
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from memoire_adapters.cache import ConsciousCache
from memoire_adapters.llm import LiteLLMChat
from memoire_core.config import Limits, Settings
from memoire_core.db.engine import make_engine, make_session_factory
from memoire_core.db.repos import accounts
from memoire_core.db.tables import memories, memory_events
from memoire_core.domain import FactIn, JobState, MessageIn, Role
from memoire_core.errors import Violations
from memoire_core.services import extraction, lifecycle
from memoire_core.services.facts import apply_fact
from memoire_core.services.ingest import ingest, validate_ingest
from memoire_core.slots import SlotRegistry
from memoire_core.unit_of_work import Effects, sessions_with_effects
from tests.integration.helpers import cache_an_answer, cached_answer
from tests.integration.scripted_llm import scripted_llm


@pytest.fixture
def core(database_url):
    engine = make_engine(database_url, pool_size=4)
    yield make_session_factory(engine)
    asyncio.run(engine.dispose())


async def new_user(sessions):
    async with sessions() as db, db.begin():
        app_id = await accounts.get_or_create_app(db, f"lifecycle-{uuid.uuid4()}")
        user, _, _ = await accounts.get_or_create_user(db, app_id, "u1")
    return user


def test_two_runs_of_one_extraction_at_once_store_its_facts_once(database_url):
    with scripted_llm() as llm:
        llm.say(
            "I keep bees on my roof.",
            {"content": "Keeps bees", "slot": "hobby", "value": "beekeeping"},
            delay=1.0,
        )
        settings = Settings(
            database_url=database_url,
            llm_model="openai/scripted",
            llm_api_base=llm.url,
            llm_api_key=SecretStr("k"),
        )

        async def scenario():
            engine = make_engine(database_url, pool_size=4)
            sessions = make_session_factory(engine)
            try:
                user = await new_user(sessions)
                async with sessions() as db, db.begin():
                    command = validate_ingest(
                        "",
                        [MessageIn(Role.USER, "I keep bees on my roof.")],
                        False,
                        Limits(),
                        Violations(),
                    )
                    result = await ingest(db, user, command, extraction_enabled=True)
                job_id = result.extraction_id
                assert job_id is not None
                chat = LiteLLMChat(settings)
                outcomes = await asyncio.gather(
                    *(
                        extraction.run_extraction(sessions, job_id, chat, SlotRegistry(), settings)
                        for _ in range(2)
                    )
                )
                async with sessions() as db:
                    stored = (
                        await db.execute(
                            select(memories.c.content).where(
                                memories.c.user_id == user.id, memories.c.kind == "fact"
                            )
                        )
                    ).scalars()
                    return outcomes, list(stored)
            finally:
                await engine.dispose()

        outcomes, stored = asyncio.run(scenario())

    assert stored == ["Keeps bees"]
    assert sorted(len(o.fact_ids) for o in outcomes) == [0, 1]


async def age_fact(sessions, user, fact, days):
    async with sessions() as db, db.begin():
        applied = await apply_fact(db, user, fact, SlotRegistry())
        await db.execute(
            update(memories)
            .where(memories.c.id == applied.memory_id)
            .values(last_refreshed_at=datetime.now(UTC) - timedelta(days=days))
        )
    return applied.memory_id


async def confidences(sessions, ids):
    async with sessions() as db:
        rows = await db.execute(
            select(memories.c.id, memories.c.confidence).where(memories.c.id.in_(ids))
        )
        return {r.id: round(r.confidence, 4) for r in rows}


def test_decay_fades_stale_facts_keeps_floors_and_is_a_no_op_when_run_twice(core):
    settings = Settings(decay_half_life_days=90, decay_floor=0.5)

    async def scenario():
        user = await new_user(core)
        hobby = await age_fact(
            core, user, FactIn("Plays chess", slot="hobby", value="chess", confidence=0.8), days=90
        )
        home = await age_fact(
            core, user, FactIn("Lives in Oslo", slot="location.home", confidence=0.8), days=900
        )
        fresh = await age_fact(core, user, FactIn("Likes tea", confidence=0.8), days=0)
        ids = [hobby, home, fresh]
        first = await lifecycle.decay(core, settings, SlotRegistry())
        after_first = await confidences(core, ids)
        second = await lifecycle.decay(core, settings, SlotRegistry())
        after_second = await confidences(core, ids)
        async with core() as db:
            events = (
                await db.execute(
                    select(memory_events.c.type).where(memory_events.c.memory_id == hobby)
                )
            ).scalars()
        return ids, first, after_first, second, after_second, list(events)

    (hobby, home, fresh), first, after_first, second, after_second, events = asyncio.run(scenario())

    assert after_first[hobby] == pytest.approx(0.4, abs=0.01)  # one half-life
    assert after_first[home] == 0.5  # a current single-valued slot keeps its floor
    assert after_first[fresh] == 0.8
    assert first >= 2
    assert second == 0
    assert after_second == after_first
    assert events.count("decayed") == 1


def test_optimisation_promotes_identity_and_preferences_but_not_passing_details(core):
    settings = Settings(optimise_every_hours=6)

    async def scenario():
        user = await new_user(core)
        async with core() as db, db.begin():
            name = await apply_fact(
                db, user, FactIn("Name is Ana", slot="name", value="Ana"), SlotRegistry()
            )
            coffee = await apply_fact(
                db, user, FactIn("Likes oat flat whites", slot="preference.coffee"), SlotRegistry()
            )
            detail = await apply_fact(db, user, FactIn("Had pasta for lunch"), SlotRegistry())
            doubt = await apply_fact(
                db,
                user,
                FactIn("Maybe called Anna", slot="nickname", category="identity", confidence=0.3),
                SlotRegistry(),
            )
        changed = await lifecycle.optimise(core, settings, None)
        again = await lifecycle.optimise(core, settings, None)
        async with core() as db:
            rows = await db.execute(
                select(memories.c.id, memories.c.essential).where(memories.c.user_id == user.id)
            )
            flags = {r.id: r.essential for r in rows}
        return name, coffee, detail, doubt, flags, changed, again

    name, coffee, detail, doubt, flags, changed, again = asyncio.run(scenario())

    assert flags[name.memory_id] and flags[coffee.memory_id]
    assert not flags[detail.memory_id]
    assert not flags[doubt.memory_id]
    assert changed >= 2
    assert again == 0


def test_optimisation_retires_the_cached_answers_of_every_user_it_changed(
    database_url, redis_server
):
    async def scenario():
        engine = make_engine(database_url, pool_size=4)
        cache = ConsciousCache(redis_server.url)
        sessions = sessions_with_effects(engine, Effects(cache=cache))
        try:
            users = [await new_user(sessions) for _ in range(2)]
            for user in users:
                async with sessions() as db, db.begin():
                    name = FactIn("Name is Ana", slot="name", value="Ana")
                    await apply_fact(db, user, name, SlotRegistry())
                await cache_an_answer(cache, user.id, "conscious", b"an answer")
            await lifecycle.optimise(sessions, Settings(optimise_every_hours=6), None)
            return [await cached_answer(cache, user.id, "conscious") for user in users]
        finally:
            await cache.close()
            await engine.dispose()

    assert asyncio.run(scenario()) == [None, None]


def test_a_failed_job_keeps_its_reason(core):
    async def scenario():
        user = await new_user(core)
        async with core() as db, db.begin():
            command = validate_ingest(
                "", [MessageIn(Role.USER, "hello")], False, Limits(), Violations()
            )
            result = await ingest(db, user, command, extraction_enabled=True)
        job_id = result.extraction_id
        assert job_id is not None
        await extraction.fail(core, job_id, "provider said no")
        await extraction.fail(core, job_id, "a second failure changes nothing")
        async with core() as db:
            from memoire_core.db.repos.jobs import lock_job

            job = await lock_job(db, job_id)
            assert job is not None
            return asdict(job)

    job = asyncio.run(scenario())

    assert job["state"] == JobState.FAILED.value
    assert job["reason"] == "provider said no"

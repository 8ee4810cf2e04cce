"""The sweeper queues each lost extraction job once per outage, not once per sweep."""

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import update

from memoire_core.config import Limits
from memoire_core.db.engine import make_engine, make_session_factory
from memoire_core.db.repos import accounts
from memoire_core.db.tables import extraction_jobs
from memoire_core.domain import MessageIn, Role
from memoire_core.errors import Violations
from memoire_core.services.extraction import LostJob
from memoire_core.services.ingest import ingest, validate_ingest
from memoire_core.task_contract import Task
from memoire_workers import tasks
from memoire_workers.celery_app import make_celery
from memoire_workers.resends import claim_resends
from tests.integration.conftest import fresh_database, make_settings
from tests.integration.helpers import queued_extractions

HOLD = 600


def never_started(count: int) -> list[LostJob]:
    return [LostJob(uuid.uuid4(), "") for _ in range(count)]


def test_a_lost_job_is_queued_again_once_however_many_sweeps_see_it(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    lost = never_started(3)

    first = claim_resends(client, lost, HOLD)
    later = [claim_resends(client, lost, HOLD) for _ in range(5)]

    assert first == [job.job_id for job in lost]
    assert later == [[]] * 5


def test_a_job_lost_later_is_queued_beside_the_ones_already_sent(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    earlier = never_started(2)
    claim_resends(client, earlier, HOLD)
    (newly_lost,) = never_started(1)

    assert claim_resends(client, [*earlier, newly_lost], HOLD) == [newly_lost.job_id]


def test_a_job_whose_new_worker_dies_too_is_queued_again_at_once(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    (job,) = never_started(1)
    claim_resends(client, [job], HOLD)

    died_running = LostJob(job.job_id, "worker-host:4242")

    assert claim_resends(client, [died_running], HOLD) == [job.job_id]
    assert claim_resends(client, [died_running], HOLD) == []


def test_a_redis_that_lost_its_data_gets_every_job_again(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    lost = never_started(2)
    claim_resends(client, lost, HOLD)

    for key in client.scan_iter("memoire:resent:*"):  # what a Redis without its data forgets
        client.delete(key)

    assert claim_resends(client, lost, HOLD) == [job.job_id for job in lost]


# Long enough for two sweeps in a row, short enough for the test to see the hold end.
RESEND_AFTER_SECONDS = 5


@pytest.fixture
def sweeper_database(postgres):
    """A database of its own, whose only unfinished job is the test's."""
    return fresh_database(postgres, "sweeper_check")


@pytest.fixture
def sweep(sweeper_database, redis_server, monkeypatch) -> Iterator[Callable[[], int]]:
    """One run of the worker's sweep task, in this process, on the real database and broker;
    returns how many jobs it queued."""
    settings = make_settings(
        sweeper_database, redis_server.url, sweep_resend_after_seconds=RESEND_AFTER_SECONDS
    )
    app = make_celery(settings)
    monkeypatch.setattr(tasks, "_runtime", None)  # a runtime made from these settings
    yield lambda: int(app.tasks[Task.SWEEP].apply().get())
    tasks.runtime(app).close()
    app.close()


async def store_job_never_queued(url: str) -> uuid.UUID:
    """An extraction job stored an hour ago whose message never reached the broker."""
    engine = make_engine(url, pool_size=1)
    try:
        async with make_session_factory(engine)() as db, db.begin():
            app_id = await accounts.get_or_create_app(db, "sweeper-test")
            user, _, _ = await accounts.get_or_create_user(db, app_id, "u1")
            said = [MessageIn(Role.USER, "I moved to Lisbon.")]
            command = validate_ingest("", said, False, Limits(), Violations())
            job_id = (await ingest(db, user, command, extraction_enabled=True)).extraction_id
            assert job_id is not None
            await db.execute(
                update(extraction_jobs)
                .where(extraction_jobs.c.id == job_id)
                .values(created_at=datetime.now(UTC) - timedelta(hours=1))
            )
        return job_id
    finally:
        await engine.dispose()


def times_queued(client: redis.Redis, job_id: uuid.UUID) -> int:
    """How many extraction tasks for the job wait on the broker."""
    return queued_extractions(client).count(str(job_id))


def test_the_sweeper_queues_a_lost_job_once_until_its_resend_hold_ends(
    sweep, sweeper_database, redis_server
):
    client = redis.Redis.from_url(redis_server.url)
    job_id = asyncio.run(store_job_never_queued(sweeper_database))

    first, second = sweep(), sweep()
    queued_within_hold = times_queued(client, job_id)
    deadline = time.monotonic() + RESEND_AFTER_SECONDS + 10
    while (third := sweep()) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)

    assert (first, second) == (1, 0)
    assert queued_within_hold == 1
    assert third == 1
    assert times_queued(client, job_id) == 2

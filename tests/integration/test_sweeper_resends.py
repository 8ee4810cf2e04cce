"""The sweeper queues each lost extraction job once per outage, not once per sweep."""

import uuid

import redis

from memoire_core.services.extraction import LostJob
from memoire_workers.resends import claim_resends

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

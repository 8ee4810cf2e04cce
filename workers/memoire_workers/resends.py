"""Which lost extraction jobs the sweeper may queue again now: each once per outage.

A job still PENDING in Postgres past the grace period was never run: Redis lost its message,
or its message is waiting behind a backlog. Queueing every such job at every sweep would, after
a long outage, add a copy of each to the queue once a minute, and the backlog would grow
faster than workers drain it. So each resend leaves a marker in Redis for
``sweep_resend_after_seconds``: while it is there the job is taken to be queued already. A
Redis that lost its data lost the markers with the messages, so the next sweep queues every
job once again, which is what that outage needs.

A marker names the lost attempt as well as the job: a job queued again and then lost a second
time (its new worker died too) is a new loss, queued again at once.
"""

import uuid
from collections.abc import Sequence

import redis

from memoire_core.services.extraction import LostJob

PREFIX = "memoire:resent:"


def claim_resends(
    client: redis.Redis, lost: Sequence[LostJob], hold_seconds: int
) -> list[uuid.UUID]:
    """The jobs whose lost attempt was not queued again within ``hold_seconds``, now marked."""
    if not lost:
        return []
    pipe = client.pipeline(transaction=False)
    for job in lost:
        pipe.set(f"{PREFIX}{job.job_id}:{job.attempt}", 1, nx=True, ex=max(1, hold_seconds))
    claimed = pipe.execute()
    return [job.job_id for job, fresh in zip(lost, claimed, strict=True) if fresh]

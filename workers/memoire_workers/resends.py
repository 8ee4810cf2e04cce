"""Which lost extraction jobs the sweeper may queue again now: each once per outage.

A job still PENDING in Postgres past the grace period was never run: Redis lost its message,
or its message is waiting behind a backlog. Queueing every such job at every sweep would, after
a long outage, add a copy of each to the queue once a minute, and the backlog would grow
faster than workers drain it. So each resend leaves a marker in Redis for
``sweep_resend_after_seconds``: while it is there the job is taken to be queued already. A
Redis that lost its data lost the markers with the messages, so the next sweep queues every
job once again, which is what that outage needs.
"""

import uuid
from collections.abc import Sequence
from typing import Any

import redis

PREFIX = "memoire:resent:"


def claim_resends(client: Any, job_ids: Sequence[uuid.UUID], hold_seconds: int) -> list[uuid.UUID]:
    """The jobs of ``job_ids`` not queued again within the last ``hold_seconds``, now marked."""
    if not job_ids:
        return []
    pipe = client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.set(f"{PREFIX}{job_id}", 1, nx=True, ex=max(1, hold_seconds))
    claimed = pipe.execute()
    return [job_id for job_id, fresh in zip(job_ids, claimed, strict=True) if fresh]


def resend_once(redis_url: str, job_ids: Sequence[uuid.UUID], hold_seconds: int) -> list[uuid.UUID]:
    """:func:`claim_resends` on the Redis at ``redis_url``."""
    client = redis.Redis.from_url(redis_url)
    try:
        return claim_resends(client, job_ids, hold_seconds)
    finally:
        client.close()

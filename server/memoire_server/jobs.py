"""Hands extraction jobs to the Celery workers through Redis, after the job row is committed.

A job that cannot be queued (Redis down) stays PENDING in Postgres; the sweeper queues it
later, so an acknowledged message never loses its extraction.
"""

import asyncio
import logging
import uuid
from typing import Any

from memoire_adapters import tracing
from memoire_adapters.logs import request_id
from memoire_core.task_contract import REQUEST_ID_TASK_HEADER, Queue, Task, extract_task_id

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 2.0


class ExtractionQueue:
    """Sends extraction tasks by name (the ``JobQueue`` of ``memoire_core.ports``); the
    server never imports the worker code."""

    def __init__(self, redis_url: str) -> None:
        from celery import Celery  # noqa: PLC0415 - only a client: no tasks, no worker

        self._celery: Any = Celery("memoire-server", broker=redis_url)
        self._celery.conf.update(
            broker_connection_timeout=SEND_TIMEOUT_SECONDS,
            broker_transport_options={"socket_connect_timeout": SEND_TIMEOUT_SECONDS},
        )

    def _send(self, job_id: uuid.UUID, headers: dict[str, str]) -> None:
        self._celery.send_task(
            Task.EXTRACT,
            args=[str(job_id)],
            queue=Queue.EXTRACTION,
            retry=False,
            task_id=extract_task_id(job_id),
            headers=headers,
        )

    async def enqueue(self, job_id: uuid.UUID) -> bool:
        """Queue one job; False (and a log line) when the broker is unreachable.

        The task carries the caller's request id and trace context, so the worker's log
        lines and spans for the job join those of the call that queued it.
        """
        headers = {REQUEST_ID_TASK_HEADER: request_id.get()}
        tracing.inject(headers)
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self._send, job_id, headers), SEND_TIMEOUT_SECONDS * 2
            )
        except Exception:
            log.warning(
                "could not queue extraction %s; the sweeper will retry", job_id, exc_info=True
            )
            return False
        return True

    def close(self) -> None:
        self._celery.close()

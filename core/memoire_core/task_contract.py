"""The contract between whoever queues background work and the workers that run it.

The server queues extraction tasks by name and never imports the worker code, so the names,
queues and headers both sides use are written down once, here.
"""

import uuid
from enum import StrEnum

from memoire_core.domain import JobState


class Task(StrEnum):
    """The name of every task a worker runs."""

    EXTRACT = "memoire.extract"
    SWEEP = "memoire.sweep"
    EMBED_OWED = "memoire.embed_owed"
    DECAY = "memoire.decay"
    OPTIMISE = "memoire.optimise"


class Queue(StrEnum):
    """Extraction jobs wait apart from maintenance, so a long decay never delays them."""

    EXTRACTION = "extraction"
    MAINTENANCE = "maintenance"


class TaskOutcome(StrEnum):
    """How a task run ended, as the workers count it."""

    DONE = "done"
    # The task ran, but the job it was given failed and says why (GetExtraction).
    FAILED = "failed"
    # A transient error: the run is queued again.
    RETRY = "retry"
    # The task raised.
    ERROR = "error"


# States an extraction job never leaves: a claim, a failure or a redelivery leaves it alone.
FINAL_JOB_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.SKIPPED})

# The task header that carries the request id of the call that queued the task.
REQUEST_ID_TASK_HEADER = "memoire_request_id"


def extract_task_id(job_id: uuid.UUID) -> str:
    """The broker's id of a job's extraction task: one job, one id, however often queued."""
    return f"extract-{job_id}"

"""The Celery application: queues, reliability settings and the beat schedule.

Tasks acknowledge late and are rejected when their worker dies, so a killed worker's task
runs again elsewhere; every task is idempotent, so running twice does no harm.
"""

from typing import Any

from celery import Celery
from celery.signals import setup_logging
from kombu import Queue  # type: ignore[attr-defined]

from memoire_adapters import logs
from memoire_core.config import Settings
from memoire_core.task_contract import Queue as TaskQueue
from memoire_core.task_contract import Task


def make_celery(settings: Settings) -> Celery:
    """A Celery app bound to the settings' Redis."""
    app = Celery("memoire", broker=settings.redis_url, include=["memoire_workers.tasks"])
    app.conf.update(
        task_queues=[Queue(q.value) for q in TaskQueue],  # type: ignore[no-untyped-call]
        task_default_queue=TaskQueue.MAINTENANCE.value,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_time_limit=300,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 600},
        task_annotations={Task.EXTRACT.value: _extraction_time_limits(settings)},
        beat_schedule=_schedule(settings),
        timezone="UTC",
    )
    app.conf.memoire_settings = settings
    # A receiver of setup_logging keeps Celery's own format off: the worker logs like the server.
    setup_logging.connect(_logging_for(settings), weak=False, dispatch_uid="memoire.logs")
    return app


def _extraction_time_limits(settings: Settings) -> dict[str, int]:
    """The extraction task's limits; the sweeper reads the same setting to know a run is dead.

    The soft limit comes a minute early, so that the run itself records why it failed.
    """
    hard = settings.extraction_time_limit_seconds
    return {"time_limit": hard, "soft_time_limit": hard - 60}


def _logging_for(settings: Settings) -> Any:
    def configure(**_: Any) -> None:
        logs.configure(settings)

    return configure


def _schedule(settings: Settings) -> dict[str, Any]:
    maintenance = TaskQueue.MAINTENANCE.value
    return {
        "sweep": {
            "task": Task.SWEEP.value,
            "schedule": settings.sweep_every_seconds,
            "options": {"queue": maintenance, "expires": settings.sweep_every_seconds},
        },
        "embed-owed": {
            "task": Task.EMBED_OWED.value,
            "schedule": settings.embed_owed_every_seconds,
            # A run still queued when the next is due is dropped: the next one does its work.
            "options": {"queue": maintenance, "expires": settings.embed_owed_every_seconds - 5},
        },
        "optimise": {
            "task": Task.OPTIMISE.value,
            "schedule": settings.optimise_every_hours * 3600,
            "options": {"queue": maintenance},
        },
        "decay": {
            "task": Task.DECAY.value,
            "schedule": settings.decay_every_hours * 3600,
            "options": {"queue": maintenance},
        },
    }


def settings_of(app: Celery) -> Settings:
    """The settings a worker was started with."""
    settings: Settings = app.conf.memoire_settings
    return settings

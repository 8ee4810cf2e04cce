"""Celery tasks; each is named, takes ids (or nothing), re-reads state, and is safe to run twice."""

import asyncio
import logging
import random
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
from celery import shared_task
from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from memoire_adapters.cache import ConsciousCache
from memoire_adapters.embedding import import_litellm, make_embedder
from memoire_adapters.llm import LiteLLMChat, configuration_problem
from memoire_adapters.metrics import PrometheusMetrics
from memoire_core.config import Settings
from memoire_core.db.engine import make_engine, storage_unavailable
from memoire_core.domain import JobState
from memoire_core.ports import Embedder, LlmClient, LLMError
from memoire_core.services import extraction, lifecycle
from memoire_core.services.embedding import embed_owed, prepare_model
from memoire_core.slots import SlotRegistry
from memoire_core.task_contract import Queue, Task
from memoire_core.unit_of_work import Effects, sessions_with_effects
from memoire_workers import telemetry  # noqa: F401 - connects the signals that observe tasks
from memoire_workers.celery_app import settings_of
from memoire_workers.resends import claim_resends

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Runtime:
    """What one worker process keeps between tasks: one event loop and what lives on it."""

    settings: Settings
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _engine: AsyncEngine | None = None
    _sessions: async_sessionmaker[AsyncSession] | None = None
    _embedder: Embedder | None = None
    _chat: LlmClient | None = None
    _llm_checked: bool = False
    _llm_problem: str | None = None
    _vectors_prepared: bool = False
    _resends: redis.Redis | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """Sessions whose committed work retires cached answers and is counted, once closed."""
        if self._sessions is None:
            self._engine = make_engine(self.settings.database_url, pool_size=2)
            url = self.settings.redis_url
            effects = Effects(
                cache=ConsciousCache(url) if url else None,
                metrics=PrometheusMetrics(),
            )
            self._sessions = sessions_with_effects(self._engine, effects)
        return self._sessions

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def llm_problem(self) -> str | None:
        """Why the configured LLM cannot work (naming the setting), checked once per process."""
        if not self._llm_checked:
            self._llm_problem = configuration_problem(self.settings)
            self._llm_checked = True
        return self._llm_problem

    async def prepare_vectors(self) -> None:
        """Give the model its HNSW index (if that is safe here), once per process."""
        if not self._vectors_prepared:
            index = self.settings.vector_index == "hnsw"
            await prepare_model(self.sessions, self.embedder, index=index)
            self._vectors_prepared = True

    @property
    def chat(self) -> LlmClient:
        if self._chat is None:
            self._chat = LiteLLMChat(self.settings)
        return self._chat

    @property
    def resends(self) -> redis.Redis:
        """The Redis that remembers which lost jobs the sweeper queued again."""
        if self._resends is None:
            self._resends = redis.Redis.from_url(self.settings.redis_url)
        return self._resends

    def close(self) -> None:
        """Let go of the connections the process opened for the sweeper."""
        if self._resends is not None:
            self._resends.close()
            self._resends = None

    def fail(self, job: uuid.UUID, reason: str) -> JobState:
        """End a job as FAILED with as much of the reason as GetExtraction keeps."""
        kept = reason[: self.settings.extraction_reason_chars]
        self.run(extraction.fail(self.sessions, job, kept))
        return JobState.FAILED


_runtime: Runtime | None = None


def runtime(app: Any) -> Runtime:
    """This process's runtime, made on first use from the app's settings."""
    global _runtime  # noqa: PLW0603 - one runtime per worker process
    if _runtime is None:
        _runtime = Runtime(settings_of(app))
    return _runtime


def backoff(retries: int) -> float:
    """Exponential backoff with full jitter, capped at a minute."""
    return float(random.uniform(0, min(60.0, 2.0 ** (retries + 1))))  # noqa: S311 - not crypto


@shared_task(  # type: ignore[untyped-decorator]
    name=Task.EXTRACT,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)  # its time limits come from the settings (celery_app.make_celery)
def extract(self: Any, job_id: str) -> JobState:
    """Distil the facts of one ingest window; transient provider errors retry with backoff.

    Returns the state the run left the job in; a stored result retires the user's cached
    answers through the unit of work.
    """
    rt = runtime(self.app)
    job = uuid.UUID(job_id)
    if not rt.settings.llm_model:
        return rt.fail(job, "the worker has no LLM configured")
    if rt.llm_problem is not None:
        # A configuration error fails the same way every time: no retry can help.
        return rt.fail(job, f"configuration error: {rt.llm_problem}")
    try:
        outcome = rt.run(
            extraction.run_extraction(rt.sessions, job, rt.chat, SlotRegistry(), rt.settings)
        )
    except LLMError as error:
        if error.transient and self.request.retries < rt.settings.extraction_max_retries:
            log.warning("extraction %s: %s; retrying", job_id, error)
            raise self.retry(countdown=backoff(self.request.retries), exc=error) from error
        return rt.fail(job, str(error))
    except Exception as error:
        if storage_unavailable(error):
            # Postgres is down or restarting: leave the job to a retry rather than failing it.
            log.warning("extraction %s: storage unavailable (%s); retrying", job_id, error)
            raise self.retry(countdown=backoff(self.request.retries), exc=error) from error
        # Anything else (a rejected statement, a bug) would fail again: end the job now.
        log.exception("extraction %s failed unexpectedly", job_id)
        return rt.fail(job, f"internal error: {type(error).__name__}")
    return outcome.state


@shared_task(  # type: ignore[untyped-decorator]
    name=Task.SWEEP, bind=True, acks_late=True, time_limit=60
)
def sweep(self: Any) -> int:
    """Queue again, once per outage, each job a lost message or a dead worker left unfinished."""
    rt = runtime(self.app)
    lost = rt.run(extraction.requeue_candidates(rt.sessions, rt.settings))
    stale = claim_resends(rt.resends, lost, rt.settings.sweep_resend_after_seconds)
    for job_id in stale:
        self.app.send_task(Task.EXTRACT, args=[str(job_id)], queue=Queue.EXTRACTION)
    if stale:
        log.info("sweeper queued %d unfinished extractions again", len(stale))
    return len(stale)


@shared_task(  # type: ignore[untyped-decorator]
    name=Task.EMBED_OWED, bind=True, acks_late=True, time_limit=120
)
def embed_owed_task(self: Any) -> int:
    """Embed every memory still owed a vector (a safety net behind the server's own embedder)."""
    rt = runtime(self.app)

    async def work() -> int:
        await rt.prepare_vectors()
        total = 0
        while (n := await embed_owed(rt.sessions, rt.embedder, rt.settings.embed_batch_size)) > 0:
            total += n
        return total

    return rt.run(work())


@shared_task(  # type: ignore[untyped-decorator]
    name=Task.DECAY, bind=True, acks_late=True, time_limit=1800
)
def decay(self: Any) -> int:
    """Let unrefreshed facts fade (closed form: running twice changes nothing)."""
    rt = runtime(self.app)
    return rt.run(lifecycle.decay(rt.sessions, rt.settings, SlotRegistry()))


@shared_task(  # type: ignore[untyped-decorator]
    name=Task.OPTIMISE, bind=True, acks_late=True, time_limit=3600
)
def optimise(self: Any) -> int:
    """Pick each user's essential facts for Conscious."""
    rt = runtime(self.app)
    chat = rt.chat if rt.settings.llm_model and rt.llm_problem is None else None
    return rt.run(lifecycle.optimise(rt.sessions, rt.settings, chat))


@worker_ready.connect  # type: ignore[untyped-decorator]
def _sweep_on_start(sender: Any, **_: Any) -> None:
    """A restarted worker first picks up what its predecessor left unfinished."""
    sender.app.send_task(Task.SWEEP)
    rt = runtime(sender.app)
    if rt.settings.llm_model:
        # LiteLLM takes seconds to import: pay it now rather than in the first extraction.
        import_litellm()
        if rt.llm_problem is not None:
            log.error(
                "fact extraction cannot work: %s; every extraction fails until it is fixed",
                rt.llm_problem,
            )


@worker_shutdown.connect  # type: ignore[untyped-decorator]
@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close_runtime(**_: Any) -> None:
    """Close what the runtime opened, in whichever process ran the tasks (the solo pool's main
    process or a prefork child)."""
    if _runtime is not None:
        _runtime.close()

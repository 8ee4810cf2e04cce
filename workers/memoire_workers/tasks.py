"""Celery tasks; each is named, takes ids or nothing, and is safe to run twice."""

import asyncio
import logging
from typing import Any

from celery import shared_task
from memoire_core.db.engine import make_engine, make_session_factory
from memoire_core.embedding import Embedder, make_embedder
from memoire_core.services.embedding import embed_owed, prepare_model

from memoire_workers.celery_app import settings_of

log = logging.getLogger(__name__)

_embedder: Embedder | None = None
# One event loop per worker process: the engine's connections belong to it.
_loop: asyncio.AbstractEventLoop | None = None


def _run(coro: Any) -> Any:
    global _loop  # noqa: PLW0603 - one loop per process, made on first use
    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coro)


@shared_task(name="memoire.embed_owed", bind=True, acks_late=True, time_limit=120)  # type: ignore[untyped-decorator]
def embed_owed_task(self: Any) -> int:
    """Embed every memory still owed a vector (a safety net behind the server's own embedder)."""
    global _embedder  # noqa: PLW0603 - the model is loaded once per worker process
    settings = settings_of(self.app)
    if _embedder is None:
        _embedder = make_embedder(settings)

    async def work() -> int:
        assert _embedder is not None
        engine = make_engine(settings.database_url, pool_size=2)
        try:
            sessions = make_session_factory(engine)
            await prepare_model(sessions, _embedder, index=settings.vector_index == "hnsw")
            total = 0
            while (n := await embed_owed(sessions, _embedder, settings.embed_batch_size)) > 0:
                total += n
            return total
        finally:
            await engine.dispose()

    total: int = _run(work())
    if total:
        log.info("embedded %d memories", total)
    return total

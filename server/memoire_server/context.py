"""Process-wide dependencies of the servicers, built once at start-up."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from memoire_core.cache import ConsciousCache
from memoire_core.config import Settings
from memoire_core.domain import IngestResult, JobState, Principal
from memoire_core.embedding import Embedder
from memoire_core.errors import Unauthenticated
from memoire_core.services.access import authenticate
from memoire_core.services.recall import Ranking
from memoire_core.slots import SlotRegistry
from memoire_server.jobs import ExtractionQueue


@dataclass
class AppContext:
    """Settings, the session factory and the embedder, shared by every call."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    embedder: Embedder | None
    server_secret: bytes
    queue: ExtractionQueue | None = None
    conscious_cache: ConsciousCache | None = None
    registry: SlotRegistry = field(default_factory=SlotRegistry)
    embed_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    background: set[asyncio.Task[bool]] = field(default_factory=set)

    async def after_ingest(self, result: IngestResult) -> None:
        """Work that follows a committed ingest: vectors for new episodes, the extraction job.

        The job is handed to the broker in the background so the reply never waits on Redis;
        the job row is already committed, so the sweeper queues it if this hand-off fails.
        """
        if result.created_message_ids:
            self.embed_wakeup.set()
        if (
            result.extraction_id is not None
            and result.extraction_state is JobState.PENDING
            and self.queue is not None
        ):
            task = asyncio.create_task(self.queue.enqueue(result.extraction_id))
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    async def facts_changed(self, user_ids: list[uuid.UUID]) -> None:
        """Retire cached Conscious answers of users whose facts changed (after the commit)."""
        if self.conscious_cache is not None:
            await self.conscious_cache.invalidate(user_ids)

    @property
    def ranking(self) -> Ranking:
        s = self.settings
        return Ranking(s.recall_candidates, s.rrf_k, s.recency_half_life_days)

    @asynccontextmanager
    async def unit_of_work(
        self, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[tuple[AsyncSession, Principal]]:
        """One transaction for one call, opened with the caller authenticated inside it."""
        async with self.sessions() as db, db.begin():
            principal = await authenticate(db, self.server_secret, presented_key(context))
            yield db, principal


def presented_key(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The API key from ``x-api-key`` or ``authorization: Bearer``."""
    for key, value in context.invocation_metadata() or ():
        text = value.decode() if isinstance(value, bytes) else value
        if key == "x-api-key":
            return text.strip()
        if key == "authorization" and text.lower().startswith("bearer "):
            return text[7:].strip()
    raise Unauthenticated("send an API key in x-api-key or authorization: Bearer")

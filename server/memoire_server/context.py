"""Process-wide dependencies of the servicers, built once at start-up."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from memoire_core.config import Settings
from memoire_core.domain import Principal
from memoire_core.embedding import Embedder
from memoire_core.errors import Unauthenticated
from memoire_core.services.access import authenticate
from memoire_core.services.recall import Ranking
from memoire_core.slots import SlotRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass
class AppContext:
    """Settings, the session factory and the embedder, shared by every call."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    embedder: Embedder | None
    server_secret: bytes
    registry: SlotRegistry = field(default_factory=SlotRegistry)
    embed_wakeup: asyncio.Event = field(default_factory=asyncio.Event)

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

"""Process-wide dependencies of the servicers, built once at start-up."""

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from memoire_core.config import Settings
from memoire_core.domain import Principal
from memoire_core.errors import PermissionDenied, Unauthenticated
from memoire_core.ports import Cache, Embedder
from memoire_core.services.access import authenticate, lookup_name
from memoire_core.services.recall import CorpusStatsCache, Ranking
from memoire_core.slots import SlotRegistry
from memoire_server.callers import KnownCallers
from memoire_server.limits import TrustedProxies, client_address, presented_key_in
from memoire_server.ratelimit import RateLimiter


@dataclass
class AppContext:
    """Settings, the session factory and the embedder, shared by every call.

    ``sessions`` come from ``memoire_core.unit_of_work.sessions_with_effects``: what a call
    commits (a job to queue, facts that retire cached answers) follows once its session
    closes, so no handler wires it by hand.
    """

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    embedder: Embedder | None
    server_secret: bytes
    # Whose x-forwarded-for names the client: ``settings.trusted_proxies``, parsed at start.
    trusted_proxies: TrustedProxies
    conscious_cache: Cache | None = None
    registry: SlotRegistry = field(default_factory=SlotRegistry)
    embed_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    limiter: RateLimiter | None = None
    # Sessions whose statements each commit on their own, for calls that only read.
    readers: async_sessionmaker[AsyncSession] | None = None
    corpus_stats: CorpusStatsCache = field(default_factory=CorpusStatsCache)
    callers: KnownCallers = field(default_factory=KnownCallers)

    def reader(self) -> AsyncSession:
        """A session for reads outside any unit of work: no BEGIN, no COMMIT, no effects."""
        return (self.readers or self.sessions)()

    @property
    def ranking(self) -> Ranking:
        s = self.settings
        return Ranking(
            s.recall_candidates,
            s.rrf_k,
            s.recency_half_life_days,
            vector_index=s.vector_index == "hnsw",
        )

    @asynccontextmanager
    async def unit_of_work(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        *,
        read_only: bool = False,
        user_id: str = "",
    ) -> AsyncIterator[tuple[AsyncSession, Principal]]:
        """One transaction for one call, opened with the caller authenticated inside it.

        A ``read_only`` call runs its statements without BEGIN and COMMIT: none of its reads
        needs another's snapshot, and the two round trips were a third of a Conscious call.
        ``user_id``, the user the call names, is looked up with the key (``Principal.named``).
        """
        presented = presented_key(context)
        named = lookup_name(user_id, self.settings.limits)
        async with contextlib.AsyncExitStack() as stack:
            for attempt in (1, 2):
                opened = contextlib.AsyncExitStack()
                db = await opened.enter_async_context(
                    self.reader() if read_only else self.sessions()
                )
                if not read_only:
                    await opened.enter_async_context(db.begin())
                try:
                    principal = await authenticate(db, self.server_secret, presented, named)
                except Unauthenticated:
                    await opened.aclose()
                    await self.failed_authentication(context)
                    raise
                except DBAPIError as error:
                    with contextlib.suppress(Exception):
                        await opened.__aexit__(type(error), error, error.__traceback__)
                    # Pooled connections are not pinged on checkout (a round trip per call):
                    # one that died with a Postgres restart fails its first statement, which
                    # invalidates the pool, and the call starts again on a fresh connection.
                    if attempt == 1 and error.connection_invalidated:
                        continue
                    raise
                await stack.enter_async_context(opened)
                yield db, principal
                return

    async def require_admin(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """Let the call through only with the admin key, or when open sign-up is on."""
        if self.settings.open_signup:
            return
        admin = self.settings.admin_key.get_secret_value()
        presented = presented_key_in(context.invocation_metadata())
        if not admin:
            raise PermissionDenied(
                "creating apps over the API is off: set MEMOIRE_ADMIN_KEY",
                reason="ADMIN_KEY_NOT_SET",
            )
        if not hmac.compare_digest(presented.encode(), admin.encode()):
            await self.failed_authentication(context)
            raise Unauthenticated("creating an app needs the admin key", reason="ADMIN_KEY_INVALID")

    async def failed_authentication(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if self.limiter is not None:
            address = client_address(context, self.trusted_proxies)
            await self.limiter.failed_authentication(address)


def presented_key(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The API key from ``x-api-key`` or ``authorization: Bearer``."""
    presented = presented_key_in(context.invocation_metadata())
    if not presented:
        raise Unauthenticated("send an API key in x-api-key or authorization: Bearer")
    return presented

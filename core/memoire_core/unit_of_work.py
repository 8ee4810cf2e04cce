"""Work that must follow a commit, collected while the transaction runs and done after it.

A service that changes something mirrored outside the database (a cached Conscious answer, a
job the workers must hear of, a figure) records an event on its session with ``record``.
When the transaction commits its events are kept; when it rolls back they are dropped, so no
job is queued that was never stored and no cache is retired for a change that did not
happen. When a session from ``sessions_with_effects`` closes, the events its committed
transactions kept are handed to the process's ``Effects``: the one place, in the server and
in the workers alike, that turns them into cache versions, queued jobs and metrics.

Nothing here runs while a transaction is open, so no lock is held across a network call.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from memoire_core.ports import Cache, JobQueue, Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractionRequested:
    """A pending extraction job was stored: the workers must hear of it."""

    job_id: uuid.UUID


@dataclass(frozen=True)
class VectorsOwed:
    """New memories were stored without a vector."""


@dataclass(frozen=True)
class VectorsStored:
    """Memories got their vectors; their creation times measure the delay to searchable."""

    created_at: tuple[datetime, ...]


@dataclass(frozen=True)
class FactsChanged:
    """Facts of these users changed: their cached Conscious answers are stale."""

    user_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class FactsExtracted:
    """An extraction job stored its facts (a redelivery that stored nothing records none); its
    creation (the ingest) and finish times, from the database's clock, measure the delay."""

    created_at: datetime
    finished_at: datetime


@dataclass(frozen=True)
class KeysChanged:
    """An API key stopped working: servers must forget the keys they checked recently."""


@dataclass(frozen=True)
class UserForgotten:
    """A user was erased, and their keys with them."""

    user_id: uuid.UUID


Event = (
    ExtractionRequested
    | VectorsOwed
    | VectorsStored
    | FactsChanged
    | FactsExtracted
    | KeysChanged
    | UserForgotten
)

_PENDING = "memoire.events.pending"
_COMMITTED = "memoire.events.committed"
_EFFECTS = "memoire.effects"


def record(db: AsyncSession, *events: Event) -> None:
    """Owe ``events`` once the session's transaction commits."""
    db.info.setdefault(_PENDING, []).extend(events)


class _TrackedSession(Session):
    """The synchronous session behind ``EffectSession``, whose commits keep their events."""


# A savepoint's commit is no commit: what was recorded waits for the outermost transaction. A
# savepoint's rollback drops only what was recorded inside it, so each savepoint notes how many
# events were pending when it began.
_SAVEPOINT_MARKS = "memoire.events.savepoints"


@event.listens_for(_TrackedSession, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks = session.info.setdefault(_SAVEPOINT_MARKS, {})
        marks[id(transaction)] = len(session.info.get(_PENDING, ()))


@event.listens_for(_TrackedSession, "after_commit")
def _keep_committed(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.setdefault(_COMMITTED, []).extend(session.info.pop(_PENDING, ()))


@event.listens_for(_TrackedSession, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.nested:
        mark = session.info.get(_SAVEPOINT_MARKS, {}).pop(id(previous_transaction), 0)
        del session.info.get(_PENDING, [])[mark:]
    elif previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


class EffectSession(AsyncSession):
    """A session that applies the events of its committed transactions when it closes."""

    sync_session_class = _TrackedSession

    async def __aexit__(
        self,
        type_: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await super().__aexit__(type_, value, traceback)
        finally:
            # What committed has happened, even if closing the session then failed.
            committed: list[Event] = self.info.pop(_COMMITTED, [])
            self.info.pop(_PENDING, None)  # never committed
            self.info.pop(_SAVEPOINT_MARKS, None)
            effects: Effects | None = self.info.get(_EFFECTS)
            if committed and effects is not None:
                await effects.apply(committed)


def sessions_with_effects(
    engine: AsyncEngine, effects: "Effects"
) -> async_sessionmaker[AsyncSession]:
    """Sessions whose committed events ``effects`` carries out when each session closes.

    Loaded values are kept after commit, as handlers read them to build replies.
    """
    return async_sessionmaker(
        engine, class_=EffectSession, expire_on_commit=False, info={_EFFECTS: effects}
    )


@dataclass
class Effects:
    """What committed events cause outside the database; one per process.

    Each adapter is optional: a process without Redis has no cache and no queue. A failing
    effect is logged and never fails the committed work it follows; whatever it leaves
    undone has a safety net (the sweeper queues jobs, cached answers expire, the embedder
    polls).
    """

    cache: Cache | None = None
    jobs: JobQueue | None = None
    metrics: Metrics | None = None
    # Wakes this process's embedder, so new memories are searchable by vector sooner.
    vectors_owed: Callable[[], None] | None = None
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    async def apply(self, events: Sequence[Event]) -> None:
        """Carry out the effects of events whose transactions committed, in order of kind."""
        changed = {u for e in events if isinstance(e, FactsChanged) for u in e.user_ids}
        forgotten = [e.user_id for e in events if isinstance(e, UserForgotten)]
        if self.vectors_owed is not None and any(isinstance(e, VectorsOwed) for e in events):
            self.vectors_owed()
        for e in events:
            if isinstance(e, ExtractionRequested) and self.jobs is not None:
                # In the background, so a reply never waits on the broker; the job row is
                # committed, and the sweeper queues it if this hand-off fails.
                self._spawn(self.jobs.enqueue(e.job_id))
        if self.cache is not None:
            if changed:
                await self._guarded(self.cache.invalidate(changed), "retire cached answers")
            for user_id in forgotten:
                await self._guarded(self.cache.forget(user_id), "erase cached answers")
            if forgotten or any(isinstance(e, KeysChanged) for e in events):
                await self._guarded(self.cache.keys_changed(), "announce a key change")
        if self.metrics is not None:
            self._observe(self.metrics, events)

    @staticmethod
    def _observe(metrics: Metrics, events: Sequence[Event]) -> None:
        now = datetime.now(UTC)
        for e in events:
            if isinstance(e, VectorsStored):
                # Creation times come from the database's clock: never a negative delay.
                metrics.vectors_stored([max(0.0, (now - t).total_seconds()) for t in e.created_at])
            elif isinstance(e, FactsExtracted):
                metrics.facts_stored(max(0.0, (e.finished_at - e.created_at).total_seconds()))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, Any], what: str) -> None:
        try:
            await work
        except Exception:
            log.warning("could not %s after a commit", what, exc_info=True)

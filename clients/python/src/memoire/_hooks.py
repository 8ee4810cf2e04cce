"""What the provider proxies (``_providers``) ask of memory, so that they and ``Memoire``
(``memory``), which makes them, need not import each other."""

from __future__ import annotations

import concurrent.futures
from typing import Protocol

from memoire_proto.v1 import memory_service_pb2 as pb


class Turn(Protocol):
    """One LLM call's exchange with memory: its context, and the reply it is fed."""

    @property
    def context(self) -> concurrent.futures.Future[pb.TurnContext]: ...

    @property
    def stored(self) -> concurrent.futures.Future[pb.TurnStored]: ...

    def delta(self, text: str) -> None:
        """Forward part of the reply."""

    def end(self, reply: str | None = None, abandoned: bool = False) -> None:
        """Close the turn; ``reply`` replaces the deltas."""

    def cancel(self) -> None:
        """Drop the turn."""


class Memory(Protocol):
    """Turns for LLM calls, and how their failures are handled."""

    def begin(self, user_id: str | None, session_id: str, message: str | None) -> Turn | None:
        """Open a turn if memory may be used for this call; None to go on without memory."""

    def context(self, turn: Turn) -> pb.TurnContext | None:
        """The turn's context within the recall budget, or None."""

    async def acontext(self, turn: Turn) -> pb.TurnContext | None:
        """:meth:`context` for asyncio callers."""

    def stored(self, turn: Turn) -> None:
        """In strict mode, wait for the turn to be stored and raise if it was not."""

    async def astored(self, turn: Turn) -> None:
        """:meth:`stored` for asyncio callers."""

    def memory_failed(self, error: BaseException, what: str) -> None:
        """A failure of our own code around a call: log it once, raise it only when strict."""

    def warn_unobservable(self, what: str) -> None:
        """Say once that replies of this kind are not stored."""

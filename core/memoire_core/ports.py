"""What the core needs from the world, as protocols: the adapters (``memoire_adapters``, the
server and the workers) provide them, so the core never imports a model, a broker or Redis."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns text into unit vectors; queries and stored passages may be embedded differently."""

    @property
    def model(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    async def embed_query(self, text: str) -> Vector: ...

    async def embed_passages(self, texts: list[str]) -> list[Vector]: ...


class LLMError(Exception):
    """A call that failed; ``transient`` says whether trying again may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Completion:
    """A parsed JSON answer and what it cost."""

    data: Any
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


class LlmClient(Protocol):
    """Answers a system and a user prompt with one JSON object; failures raise LLMError."""

    @property
    def model(self) -> str: ...

    async def complete_json(self, system: str, user: str) -> Completion: ...


@dataclass(frozen=True)
class Lookup:
    """A user's current cache version, the answer cached under it (if any), and the epoch of
    API keys, which moves whenever a key stops working."""

    version: int
    answer: bytes | None
    keys_epoch: int


class Cache(Protocol):
    """Cached Conscious answers per user and variant, retired by bumping the user's version.

    Every method degrades instead of raising: an unreachable cache reads as a miss (None)
    and a lost write only lets an entry live out its TTL.
    """

    async def lookup(self, user_id: uuid.UUID, variant: str) -> Lookup | None: ...

    async def put(self, user_id: uuid.UUID, version: int, variant: str, value: bytes) -> None: ...

    async def keys_epoch(self) -> int | None: ...

    async def keys_changed(self) -> None: ...

    async def invalidate(self, user_ids: Iterable[uuid.UUID]) -> None: ...

    async def forget(self, user_id: uuid.UUID) -> None: ...

    async def close(self) -> None: ...


class JobQueue(Protocol):
    """Hands committed extraction jobs to the workers."""

    async def enqueue(self, job_id: uuid.UUID) -> bool:
        """Queue one job; False when the broker cannot take it (the sweeper will)."""
        ...


class Metrics(Protocol):
    """Figures the core's effects report, observed after the work is committed."""

    def vectors_stored(self, delays_seconds: Sequence[float]) -> None:
        """Seconds from each memory's creation to its vector being stored."""
        ...

    def facts_stored(self, delay_seconds: float) -> None:
        """Seconds from an extraction job's creation (its ingest) to its facts being stored."""
        ...

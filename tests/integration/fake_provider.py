"""A local HTTP server that speaks the OpenAI API, so the real LiteLLM client code runs.

Embeddings are deterministic bags of hashed words: texts sharing words are close, which is
enough to see a provider's vectors flow through storage and ranking.
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tests.integration.fake_llm import json_server


def bag_of_words(text: str, dims: int) -> list[float]:
    vector = np.zeros(dims, dtype=np.float64)
    for raw in text.lower().split():
        digest = hashlib.sha256(raw.strip(".,!?;:").encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dims] += 1.0
    return vector.tolist()


@dataclass
class FakeProvider:
    """What the fake was asked, and how to reach it."""

    url: str
    dims: int
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def fake_openai(dims: int = 64) -> Iterator[FakeProvider]:
    """Serve ``/v1/embeddings`` on a free loopback port for the duration of the block."""
    provider = FakeProvider(url="", dims=dims)

    def answer(path: str, body: dict[str, Any], headers: Any) -> tuple[int, Any]:
        provider.requests.append(
            {"path": path, "body": body, "auth": headers.get("Authorization", "")}
        )
        if not path.endswith("/embeddings"):
            return 404, None
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return 200, {
            "object": "list",
            "model": body["model"],
            "data": [
                {"object": "embedding", "index": i, "embedding": bag_of_words(t, dims)}
                for i, t in enumerate(inputs)
            ],
            "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
        }

    with json_server(answer) as url:
        provider.url = url
        yield provider

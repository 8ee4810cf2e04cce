"""A local HTTP server that speaks the OpenAI API, so the real LiteLLM client code runs.

Embeddings are deterministic bags of hashed words: texts sharing words are close, which is
enough to see a provider's vectors flow through storage and ranking.
"""

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


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

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            provider.requests.append(
                {"path": self.path, "body": body, "auth": self.headers.get("Authorization", "")}
            )
            if not self.path.endswith("/embeddings"):
                self.send_error(404)
                return
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            reply = {
                "object": "list",
                "model": body["model"],
                "data": [
                    {"object": "embedding", "index": i, "embedding": bag_of_words(t, dims)}
                    for i, t in enumerate(inputs)
                ],
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            }
            payload = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()

"""An instant OpenAI-compatible chat server for measuring the extraction pipeline.

Every extraction window gets one fact per new message at once, so the delay measured is the
pipeline's own (queue, worker, LiteLLM client, storage) and never a model's. The real LiteLLM
code path runs against it.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _facts_for(window: dict[str, Any]) -> list[dict[str, Any]]:
    """One fact per new message: what the message says, in the user's own words."""
    return [
        {
            "content": f"Said: {m['content'][:200]}",
            "category": "event",
            "slot": "",
            "value": "",
            "temporal_state": "current",
            "confidence": 0.9,
            "essential": False,
            "language": "en",
            "source": [m["ref"]],
        }
        for m in window.get("messages", [])
        if m.get("new")
    ]


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completion answering an extraction request."""
    window = json.loads(body["messages"][-1]["content"])
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": json.dumps({"facts": _facts_for(window)}),
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        payload = json.dumps(completion(body)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def instant_llm() -> Iterator[str]:
    """Serve ``/v1/chat/completions`` on a free loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()

"""An instant OpenAI-compatible chat server for measuring the extraction pipeline.

Every extraction window gets one fact per new message at once, so the delay measured is the
pipeline's own (queue, worker, LiteLLM client, storage) and never a model's. The real LiteLLM
code path runs against it.
"""

import json
import threading
import time
from collections.abc import Callable, Iterator
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


# (path, body, headers) -> (status, reply); a None reply means 404.
Answer = Callable[[str, dict[str, Any], Any], tuple[int, Any]]


@contextmanager
def json_server(answer: Answer) -> Iterator[str]:
    """Serve ``answer`` to JSON POSTs on a free loopback port; yields the base URL ending in
    ``/v1``. The base of every scripted provider, here and in the tests."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, reply = answer(self.path, body, self.headers)  # case-insensitive
            if reply is None:
                self.send_error(404)
                return
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _answer(path: str, body: dict[str, Any], _: Any) -> tuple[int, Any]:
    if not path.endswith("/chat/completions"):
        return 404, None
    return 200, completion(body)


@contextmanager
def instant_llm() -> Iterator[str]:
    """Serve ``/v1/chat/completions`` on a free loopback port; yields the base URL."""
    with json_server(_answer) as url:
        yield url

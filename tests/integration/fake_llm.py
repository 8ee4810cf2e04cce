"""A local HTTP server that imitates the OpenAI and Anthropic chat APIs, so the real ``openai``
and ``anthropic`` SDK clients run unchanged against it.

It answers ``POST /v1/chat/completions`` and ``POST /v1/messages``, plain or as Server-Sent
Events when the request asks to stream, records every request body, and can hold a stream
after its first chunk (to prove chunks reach the caller as they are sent) or fail.

:func:`json_server` is the same server answering JSON POSTs with any function, the base of the
tests' other scripted providers.
"""

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_SECONDS = 5.0
CREATED = 1_700_000_000


@dataclass
class FakeLLM:
    """What the fake was asked and how it answers; change the answer between calls."""

    root: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    reply: str = "Got it, thanks for telling me."
    # Pieces of the reply when streaming; None splits it after each word.
    chunks: list[str] | None = None
    # When set, a stream stops after its first chunk until `release` is set (or 5 s pass).
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    released_in_time: bool | None = None
    # An HTTP status to fail every request with, 0 to answer normally.
    fail_with: int = 0
    sent_chunks: int = 0

    @property
    def openai_url(self) -> str:
        """The base_url for ``openai.OpenAI``."""
        return f"{self.root}/v1"

    @property
    def anthropic_url(self) -> str:
        """The base_url for ``anthropic.Anthropic``."""
        return self.root

    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        words = self.reply.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]]


def _openai_completion(body: dict[str, Any], reply: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": CREATED,
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _openai_chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None) -> str:
    chunk = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n"


def _anthropic_message(body: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake"),
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


def _event(data: dict[str, Any]) -> str:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n"


@contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    """Serve both APIs on a free loopback port for the duration of the block."""
    fake = FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once, as a real server's

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            fake.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            if fake.fail_with:
                self._json(fake.fail_with, _error(self.path, fake.fail_with))
            elif self.path.endswith("/chat/completions"):
                self._openai(body)
            elif self.path.endswith("/messages"):
                self._anthropic(body)
            else:
                self._json(404, {"error": {"message": "no such route", "type": "not_found"}})

        def _openai(self, body: dict[str, Any]) -> None:
            if not body.get("stream"):
                self._json(200, _openai_completion(body, fake.reply))
                return
            events = [_openai_chunk(body, {"role": "assistant", "content": ""}, None)]
            events += [_openai_chunk(body, {"content": p}, None) for p in fake.pieces()]
            events += [_openai_chunk(body, {}, "stop"), "data: [DONE]\n\n"]
            self._stream(events, first_text_at=1)

        def _anthropic(self, body: dict[str, Any]) -> None:
            if not body.get("stream"):
                text = [{"type": "text", "text": fake.reply}]
                self._json(200, _anthropic_message(body, text))
                return
            events = [
                _event({"type": "message_start", "message": _anthropic_message(body, [])}),
                _event(
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    }
                ),
            ]
            events += [
                _event(
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": p},
                    }
                )
                for p in fake.pieces()
            ]
            events += [
                _event({"type": "content_block_stop", "index": 0}),
                _event(
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": 5},
                    }
                ),
                _event({"type": "message_stop"}),
            ]
            self._stream(events, first_text_at=2)

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            _send_json(self, status, payload)

        def _stream(self, events: list[str], first_text_at: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i, event in enumerate(events):
                    data = event.encode()
                    fake.sent_chunks = i + 1
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                    if fake.hold and i == first_text_at:
                        fake.released_in_time = fake.release.wait(HOLD_SECONDS)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the caller stopped reading: fine

        def log_message(self, *args: Any) -> None:
            pass

    with _serving(Handler) as root:
        fake.root = root
        try:
            yield fake
        finally:
            fake.release.set()


# (path, body, headers) -> (status, reply); a None reply means 404.
Answer = Callable[[str, dict[str, Any], Any], tuple[int, Any]]


@contextmanager
def json_server(answer: Answer) -> Iterator[str]:
    """Serve ``answer`` to JSON POSTs on a free loopback port; yields the base URL ending in
    ``/v1``. The base of the scripted providers (scripted_llm.py, fake_provider.py)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, reply = answer(self.path, body, self.headers)  # case-insensitive
            if reply is None:
                self.send_error(404)
                return
            _send_json(self, status, reply)

        def log_message(self, *args: Any) -> None:
            pass

    with _serving(Handler) as root:
        yield f"{root}/v1"


def _send_json(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve with ``handler`` on a free loopback port; yields the root URL."""
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hung up on a kept-alive connection
        super().handle_error(request, client_address)


def _error(path: str, status: int) -> dict[str, Any]:
    if path.endswith("/messages"):
        return {"type": "error", "error": {"type": "api_error", "message": f"fake {status}"}}
    return {"error": {"message": f"fake {status}", "type": "server_error", "code": None}}

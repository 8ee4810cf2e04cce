"""A local OpenAI-compatible chat server with scripted answers, so the real LiteLLM code runs.

Tests script facts per message text: when an extraction window marks a message as new and its
text has a script, the answer carries those facts, cited to that message. The server can
also fail (HTTP status), stall past the client's timeout, or answer with something that is
not the JSON asked for.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.integration.fake_llm import json_server


@dataclass
class Trouble:
    """What to do instead of answering, for the next ``times`` calls: fail with an HTTP
    ``status``, answer prose (``garbage``) or this raw ``content``, or wait ``stall`` seconds
    before answering as scripted."""

    times: int
    status: int = 0
    garbage: bool = False
    content: str = ""
    stall: float = 0.0


@dataclass
class ScriptedLLM:
    """Scripts and the requests received."""

    url: str = ""
    scripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    troubles: dict[str, Trouble] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, message: str, *facts: dict[str, Any], delay: float = 0.0) -> None:
        """When ``message`` is new in a window, answer with ``facts`` (cited to it)."""
        with self.lock:
            self.scripts[message] = list(facts)
            self.delays[message] = delay

    def trouble(
        self,
        message: str,
        *,
        times: int,
        status: int = 0,
        garbage: bool = False,
        content: str = "",
        stall: float = 0.0,
    ) -> None:
        """Misbehave for the next ``times`` windows in which ``message`` is new."""
        with self.lock:
            self.troubles[message] = Trouble(times, status, garbage, content, stall)

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        window = json.loads(body["messages"][-1]["content"])
        new = [m for m in window["messages"] if m["new"]]
        stall = 0.0
        with self.lock:
            self.requests.append(body)
            for m in new:
                trouble = self.troubles.get(m["content"])
                if trouble and trouble.times > 0:
                    trouble.times -= 1
                    if trouble.garbage:
                        return 200, _completion(body, "Sure! Here are facts: the user is nice.")
                    if trouble.content:
                        return 200, _completion(body, trouble.content)
                    if trouble.status:
                        return trouble.status, {
                            "error": {"message": "scripted failure", "type": "server_error"}
                        }
                    stall = trouble.stall
            delay = stall or max((self.delays.get(m["content"], 0.0) for m in new), default=0.0)
            facts = [
                {**f, "source": f.get("source", [m["ref"]])} if isinstance(f, dict) else f
                for m in new
                for f in self.scripts.get(m["content"], [])
            ]
        time.sleep(delay)
        return 200, _completion(body, json.dumps({"facts": facts}))


def _completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


@contextmanager
def scripted_llm() -> Iterator[ScriptedLLM]:
    """Serve ``/v1/chat/completions`` on a free loopback port for the duration of the block."""
    llm = ScriptedLLM()

    def answer(path: str, body: dict[str, Any], _: dict[str, str]) -> tuple[int, Any]:
        if not path.endswith("/chat/completions"):
            return 404, None
        return llm.answer(body)

    with json_server(answer) as url:
        llm.url = url
        yield llm

"""Mémoire for Python: typed clients for the memory service, and memory for LLM clients.

    from memoire import Memoire

    memoire = Memoire(api_key=KEY, target="127.0.0.1:50051")
    client = memoire.wrap(openai.OpenAI())

The generated protobuf and gRPC modules are in ``memoire_proto.v1`` (the ``memoire-proto``
package, shared with the server).
"""

from __future__ import annotations

import threading
from typing import TypeVar

from memoire import errors
from memoire.breaker import BreakerState, CircuitBreaker
from memoire.client import AsyncMemoireClient, MemoireClient, RetryPolicy
from memoire.errors import *  # noqa: F403 - every exception is part of the package's API
from memoire.memory import Memoire

__all__ = [
    "AsyncMemoireClient",
    "BreakerState",
    "CircuitBreaker",
    "Memoire",
    "MemoireClient",
    "RetryPolicy",
    "wrap",
]
__all__ += errors.__all__

__version__ = "0.1.0"

C = TypeVar("C")

_default: Memoire | None = None
_default_lock = threading.Lock()


def wrap(client: C, user_id: str | None = None, *, session_id: str = "") -> C:
    """``Memoire().wrap(client, user_id)`` with one shared ``Memoire`` configured from the
    environment (``MEMOIRE_API_KEY``, ``MEMOIRE_TARGET``)."""
    global _default  # noqa: PLW0603 - one lazily made default, like logging's root logger
    with _default_lock:
        if _default is None:
            _default = Memoire()
    return _default.wrap(client, user_id, session_id=session_id)

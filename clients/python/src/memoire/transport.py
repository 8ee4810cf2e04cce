"""Sending a :class:`~memoire.calls.Call` over a blocking or an asyncio channel.

Both transports give every call a deadline and raise a :class:`~memoire.errors.MemoireError`
subclass on failure. Calls that are safe to repeat are retried on UNAVAILABLE with jittered
exponential backoff, and after a rate limit once the server's wait is over, within the same
deadline.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from memoire.calls import OBSERVE_CHAT, Call
from memoire.errors import MemoireError, from_rpc_error
from memoire_proto.v1 import memory_service_pb2 as pb

__all__ = ["NO_RETRY", "AsyncTransport", "Metadata", "RetryPolicy", "Settings", "SyncTransport"]

Resp = TypeVar("Resp", bound=Message)
S = TypeVar("S")
T = TypeVar("T")
Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RetryPolicy:
    """How calls that are safe to repeat are retried.

    A status in ``codes`` is retried with jittered exponential backoff. RESOURCE_EXHAUSTED is
    retried when the server refused the call for a rate limit (a reason in
    ``throttled_reasons``) and said how long to wait. A wait the server asks for is honoured
    in full, even beyond ``max_backoff``, since an earlier attempt would only be refused
    again; when it does not fit in the call's deadline the call fails at once, and the
    error's ``retry_delay`` says when to try again.
    """

    max_attempts: int = 4
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0
    codes: frozenset[grpc.StatusCode] = field(
        default_factory=lambda: frozenset({grpc.StatusCode.UNAVAILABLE})
    )
    throttled_reasons: frozenset[str] = field(
        default_factory=lambda: frozenset({"RATE_LIMITED", "AUTH_THROTTLED"})
    )

    def backoff(self, attempt: int, error: MemoireError) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up."""
        if attempt >= self.max_attempts or not self.retries(error):
            return None
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret
        return max(delay, error.retry_delay or 0.0)

    def retries(self, error: MemoireError) -> bool:
        """Whether another attempt may succeed where this one failed."""
        if error.code in self.codes:
            return True
        # Other RESOURCE_EXHAUSTED failures (a message over the size limit) fail every time.
        return (
            error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
            and error.reason in self.throttled_reasons
            and error.retry_delay is not None
        )


NO_RETRY = RetryPolicy(max_attempts=1)


class _Attempts:
    """The attempts of one call, all within the call's deadline."""

    def __init__(self, policy: RetryPolicy, timeout: float) -> None:
        self._policy = policy
        self._deadline = time.monotonic() + timeout
        self._count = 0

    def next(self) -> _Attempt:
        self._count += 1
        return _Attempt(self, max(self._deadline - time.monotonic(), 0.001))

    def pause(self, error: grpc.RpcError, *, retry: bool) -> float:
        """Seconds to wait before the next attempt; raises the call's MemoireError when there
        is none."""
        failure = from_rpc_error(error)
        delay = self._policy.backoff(self._count, failure) if retry else None
        if delay is None or time.monotonic() + delay >= self._deadline:
            raise failure from error
        return delay


class _Attempt:
    """One attempt, made in its ``with`` block: a failure that may be retried ends the block,
    leaving ``delay`` to wait before the next attempt; any other leaves as the call's
    MemoireError. A stream (``follow``) is retried only until its first item is read, as a
    retry would repeat items."""

    def __init__(self, attempts: _Attempts, timeout: float) -> None:
        self.timeout = timeout
        self.delay = 0.0
        self._attempts = attempts
        self._stream: Any = None
        self._read = False

    def follow(self, stream: S) -> S:
        self._stream = stream
        return stream

    def read(self, item: T) -> T:
        self._read = True
        return item

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, error: BaseException | None, tb: object) -> bool:
        if self._stream is not None:
            # A no-op once the stream ended; ends it if the reader stopped half-way.
            self._stream.cancel()
        if not isinstance(error, grpc.RpcError):
            return False
        self.delay = self._attempts.pause(error, retry=not self._read)
        return True


def _serialize(request: Message) -> bytes:
    return request.SerializeToString()


@dataclass(frozen=True)
class Settings:
    """Where calls go and how: the channel's address, credentials (None: plaintext) and
    options, and the calls' default deadline and retry policy."""

    target: str
    credentials: grpc.ChannelCredentials | None
    options: Sequence[tuple[str, Any]]
    timeout: float
    retry: RetryPolicy


class _Transport:
    """What both transports share: their settings, and one multi-callable per method."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._methods: dict[str, Any] = {}

    def _attempts(self, call: Call[Any]) -> _Attempts:
        policy = self.settings.retry if call.retry else NO_RETRY
        timeout = self.settings.timeout if call.timeout is None else call.timeout
        return _Attempts(policy, timeout)

    def _method(
        self, channel: grpc.Channel | grpc.aio.Channel, kind: str, path: str, reply: type[Message]
    ) -> Any:
        """The channel's multi-callable of ``kind`` (``unary_unary``...) for a method."""
        method = self._methods.get(path)
        if method is None:
            method = getattr(channel, kind)(path, _serialize, reply.FromString)
            self._methods[path] = method
        return method


class SyncTransport(_Transport):
    """Calls over a blocking channel, opened at once."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        s = settings
        if s.credentials is None:
            self.channel = grpc.insecure_channel(s.target, options=s.options)
        else:
            self.channel = grpc.secure_channel(s.target, s.credentials, options=s.options)

    def close(self) -> None:
        self.channel.close()

    def unary(self, call: Call[Resp], metadata: Metadata) -> Resp:
        """The call's reply, retried as the policy allows."""
        method: grpc.UnaryUnaryMultiCallable[Message, Resp]
        method = self._method(self.channel, "unary_unary", call.method, call.reply)
        attempts = self._attempts(call)
        while True:
            with attempts.next() as attempt:
                return method(call.request, metadata=metadata, timeout=attempt.timeout)
            time.sleep(attempt.delay)

    def stream(self, call: Call[Resp], metadata: Metadata) -> Iterator[Resp]:
        """The items of a server stream, read as they arrive; the call's deadline bounds the
        whole stream. Opening it is retried like a unary call until the first item arrives;
        after that a failure ends the iteration, as a retry would repeat items."""
        method: grpc.UnaryStreamMultiCallable[Message, Resp]
        method = self._method(self.channel, "unary_stream", call.method, call.reply)
        attempts = self._attempts(call)
        while True:
            with attempts.next() as attempt:
                items = method(call.request, metadata=metadata, timeout=attempt.timeout)
                for item in attempt.follow(items):
                    yield attempt.read(item)
                return
            time.sleep(attempt.delay)

    def chat(
        self, requests: Iterator[pb.ObserveChatRequest], metadata: Metadata, timeout: float | None
    ) -> Any:
        """An ObserveChat call fed by ``requests`` (a grpc call object, iterated for replies)."""
        open_chat = self._method(
            self.channel, "stream_stream", OBSERVE_CHAT, pb.ObserveChatResponse
        )
        return open_chat(requests, metadata=metadata, timeout=timeout)


class AsyncTransport(_Transport):
    """Calls over an asyncio channel, opened on first use on the running event loop (and again
    if a later call runs on another loop, since a grpc.aio channel belongs to one loop)."""

    _channel: grpc.aio.Channel | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def _current_channel(self) -> grpc.aio.Channel:
        loop = asyncio.get_running_loop()
        if self._channel is None or self._loop is not loop:
            s = self.settings
            if s.credentials is None:
                self._channel = grpc.aio.insecure_channel(s.target, options=s.options)
            else:
                self._channel = grpc.aio.secure_channel(s.target, s.credentials, options=s.options)
            self._loop = loop
            self._methods = {}
        return self._channel

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close(None)

    async def unary(self, call: Call[Resp], metadata: Metadata) -> Resp:
        """:meth:`SyncTransport.unary`, awaited."""
        method: grpc.aio.UnaryUnaryMultiCallable[Message, Resp]
        method = self._method(self._current_channel(), "unary_unary", call.method, call.reply)
        attempts = self._attempts(call)
        while True:
            with attempts.next() as attempt:
                return await method(call.request, metadata=metadata, timeout=attempt.timeout)
            await asyncio.sleep(attempt.delay)

    async def stream(self, call: Call[Resp], metadata: Metadata) -> AsyncIterator[Resp]:
        """:meth:`SyncTransport.stream`, for ``async for``."""
        method: grpc.aio.UnaryStreamMultiCallable[Message, Resp]
        method = self._method(self._current_channel(), "unary_stream", call.method, call.reply)
        attempts = self._attempts(call)
        while True:
            with attempts.next() as attempt:
                items = method(call.request, metadata=metadata, timeout=attempt.timeout)
                async for item in attempt.follow(items):
                    yield attempt.read(item)
                return
            await asyncio.sleep(attempt.delay)

    def chat(self, metadata: Metadata, timeout: float | None) -> Any:
        """An ObserveChat call written and read by the caller (a grpc.aio call object)."""
        open_chat = self._method(
            self._current_channel(), "stream_stream", OBSERVE_CHAT, pb.ObserveChatResponse
        )
        return open_chat(None, metadata=metadata, timeout=timeout)

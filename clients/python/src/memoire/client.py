"""Typed clients for both services: ``MemoireClient`` (blocking) and ``AsyncMemoireClient``.

Every call carries the API key, has a deadline (``timeout``, 10 s by default) and raises a
:class:`~memoire.errors.MemoireError` subclass on failure. Calls that are safe to repeat —
reads, idempotent calls and writes that carry the caller's own ids — are retried on
UNAVAILABLE with jittered exponential backoff, and after a rate limit once the server's wait
is over, within the same deadline.
"""

# ruff: noqa: ASYNC109 - `timeout=` is the gRPC deadline of each call, as in grpc.aio itself

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.timestamp_pb2 import Timestamp

from memoire.errors import MemoireError, from_rpc_error
from memoire_proto.v1 import account_pb2, memory_pb2
from memoire_proto.v1 import account_service_pb2 as apb
from memoire_proto.v1 import account_service_pb2_grpc as apb_grpc
from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_proto.v1 import memory_service_pb2_grpc as pb_grpc

__all__ = [
    "DEFAULT_TARGET",
    "AsyncChatStream",
    "AsyncMemoireClient",
    "ChatStream",
    "FactLike",
    "MemoireClient",
    "MessageLike",
    "RetryPolicy",
]

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 10.0
USER_AGENT = "memoire-python/0.1.0"

Req = TypeVar("Req")
Resp = TypeVar("Resp")

# A message to ingest: the protobuf, or a mapping such as {"role": "user", "content": "..."}
# with optional client_message_id, create_time (a datetime) and metadata.
MessageLike = pb.MessageInput | Mapping[str, Any]
# A fact to write: the protobuf, or just its statement.
FactLike = pb.FactInput | str

_ROLES: dict[str, memory_pb2.Role] = {
    "user": memory_pb2.ROLE_USER,
    "assistant": memory_pb2.ROLE_ASSISTANT,
    "system": memory_pb2.ROLE_SYSTEM,
    "tool": memory_pb2.ROLE_TOOL,
}


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


def _deadline(settings: _Settings, timeout: float | None) -> float:
    return time.monotonic() + (settings.timeout if timeout is None else timeout)


def _pause(
    policy: RetryPolicy, attempt: int, failure: MemoireError, deadline: float
) -> float | None:
    """Seconds to wait before the next attempt, or None when the call fails with ``failure``."""
    delay = policy.backoff(attempt, failure)
    if delay is None or time.monotonic() + delay >= deadline:
        return None
    return delay


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value)
    return out


def _message(item: MessageLike) -> pb.MessageInput:
    if isinstance(item, pb.MessageInput):
        return item
    role = item.get("role", "user")
    return pb.MessageInput(
        role=_ROLES[role] if isinstance(role, str) else role,
        content=item["content"],
        client_message_id=item.get("client_message_id", ""),
        create_time=_timestamp(item.get("create_time")),
        metadata=item.get("metadata") or {},
    )


def _fact(item: FactLike) -> pb.FactInput:
    return pb.FactInput(content=item) if isinstance(item, str) else item


def _options(options: Seq[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [("grpc.primary_user_agent", USER_AGENT), *options]


class _Settings:
    def __init__(
        self,
        api_key: str | None,
        target: str | None,
        timeout: float,
        retry: RetryPolicy,
        credentials: grpc.ChannelCredentials | None,
        options: Seq[tuple[str, Any]],
    ) -> None:
        self.api_key = api_key if api_key is not None else os.environ.get("MEMOIRE_API_KEY", "")
        self.target = target or os.environ.get("MEMOIRE_TARGET", DEFAULT_TARGET)
        self.timeout = timeout
        self.retry = retry
        self.credentials = credentials
        self.options = _options(options)
        self.metadata: tuple[tuple[str, str], ...] = (
            (("x-api-key", self.api_key),) if self.api_key else ()
        )


# --- requests, shared by both clients ---------------------------------------------------------


def _ingest(
    user_id: str, messages: Iterable[MessageLike], session_id: str, skip_extraction: bool
) -> tuple[pb.IngestRequest, bool]:
    request = pb.IngestRequest(
        user_id=user_id,
        session_id=session_id,
        messages=[_message(m) for m in messages],
        skip_extraction=skip_extraction,
    )
    # Re-sending messages that all carry client ids is a no-op, so it may be retried.
    return request, all(m.client_message_id for m in request.messages)


def _recall(
    user_id: str,
    query: str,
    limit: int,
    kinds: Iterable[memory_pb2.MemoryKind],
    categories: Iterable[str],
    current_view_only: bool,
    as_of: datetime | None,
    start: datetime | None,
    end: datetime | None,
    session_id: str,
) -> pb.RecallRequest:
    return pb.RecallRequest(
        user_id=user_id,
        query=query,
        limit=limit,
        kinds=list(kinds),
        categories=list(categories),
        current_view_only=current_view_only,
        as_of_time=_timestamp(as_of),
        start_time=_timestamp(start),
        end_time=_timestamp(end),
        session_id=session_id,
    )


class MemoireClient:
    """Blocking client for MemoryService and AccountService.

    ``api_key`` and ``target`` default to ``MEMOIRE_API_KEY`` and ``MEMOIRE_TARGET``
    (then ``127.0.0.1:50051``). Pass ``credentials`` (``grpc.ssl_channel_credentials()``)
    for TLS. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        target: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: Seq[tuple[str, Any]] = (),
    ) -> None:
        self._s = _Settings(api_key, target, timeout, retry or RetryPolicy(), credentials, options)
        if credentials is None:
            self._channel = grpc.insecure_channel(self._s.target, options=self._s.options)
        else:
            self._channel = grpc.secure_channel(
                self._s.target, credentials, options=self._s.options
            )
        self._memory = pb_grpc.MemoryServiceStub(self._channel)
        self._accounts = apb_grpc.AccountServiceStub(self._channel)

    @property
    def target(self) -> str:
        return self._s.target

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> MemoireClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(
        self,
        method: grpc.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        *,
        retry: bool,
        timeout: float | None,
    ) -> Resp:
        deadline = _deadline(self._s, timeout)
        policy = self._s.retry if retry else NO_RETRY
        attempt = 0
        while True:
            attempt += 1
            remaining = max(deadline - time.monotonic(), 0.001)
            try:
                return method(request, metadata=self._s.metadata, timeout=remaining)
            except grpc.RpcError as error:
                failure = from_rpc_error(error)
                delay = _pause(policy, attempt, failure, deadline)
                if delay is None:
                    raise failure from error
            time.sleep(delay)

    def _stream(
        self,
        method: grpc.UnaryStreamMultiCallable[Req, Resp],
        request: Req,
        *,
        retry: bool,
        timeout: float | None,
    ) -> Iterator[Resp]:
        """The items of a server stream, read as they arrive; ``timeout`` bounds the whole
        stream. Opening it is retried like a unary call until the first item arrives; after
        that a failure ends the iteration, as a retry would repeat items."""
        deadline = _deadline(self._s, timeout)
        policy = self._s.retry if retry else NO_RETRY
        attempt = 0
        while True:
            attempt += 1
            remaining = max(deadline - time.monotonic(), 0.001)
            call = method(request, metadata=self._s.metadata, timeout=remaining)
            received = False
            try:
                for item in call:
                    received = True
                    yield item
            except grpc.RpcError as error:
                failure = from_rpc_error(error)
                delay = None if received else _pause(policy, attempt, failure, deadline)
                if delay is None:
                    raise failure from error
            else:
                return
            finally:
                # A no-op once the stream ended; ends it if the reader stopped half-way.
                call.cancel()  # type: ignore[no-untyped-call]  # unannotated in grpc-stubs
            time.sleep(delay)

    # --- MemoryService ---------------------------------------------------------------------

    def ingest(
        self,
        user_id: str,
        messages: Iterable[MessageLike],
        *,
        session_id: str = "",
        skip_extraction: bool = False,
        timeout: float | None = None,
    ) -> pb.IngestResponse:
        """Store messages verbatim; retried only when every message has a client_message_id."""
        request, safe = _ingest(user_id, messages, session_id, skip_extraction)
        return self._call(self._memory.Ingest, request, retry=safe, timeout=timeout)

    def add_memories(
        self,
        user_id: str,
        facts: Iterable[FactLike],
        *,
        request_id: str = "",
        timeout: float | None = None,
    ) -> pb.AddMemoriesResponse:
        """Write facts directly; retried only with a ``request_id``."""
        request = pb.AddMemoriesRequest(
            user_id=user_id, facts=[_fact(f) for f in facts], request_id=request_id
        )
        return self._call(
            self._memory.AddMemories, request, retry=bool(request_id), timeout=timeout
        )

    def recall(
        self,
        user_id: str,
        query: str,
        *,
        limit: int = 0,
        kinds: Iterable[memory_pb2.MemoryKind] = (),
        categories: Iterable[str] = (),
        current_view_only: bool = False,
        as_of: datetime | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        session_id: str = "",
        timeout: float | None = None,
    ) -> pb.RecallResponse:
        """The memories most relevant to ``query``, best first."""
        request = _recall(
            user_id, query, limit, kinds, categories, current_view_only, as_of, start, end,
            session_id,
        )  # fmt: skip
        return self._call(self._memory.Recall, request, retry=True, timeout=timeout)

    def conscious(
        self, user_id: str = "", *, limit: int = 0, timeout: float | None = None
    ) -> pb.ConsciousResponse:
        """The user's essential facts and a prompt block built from them."""
        request = pb.ConsciousRequest(user_id=user_id, limit=limit)
        return self._call(self._memory.Conscious, request, retry=True, timeout=timeout)

    def observe_chat(
        self, requests: Iterable[pb.ObserveChatRequest], *, timeout: float | None = None
    ) -> ChatStream:
        """Open an ObserveChat stream fed by ``requests``; iterate the result for responses."""
        call = self._memory.ObserveChat(iter(requests), metadata=self._s.metadata, timeout=timeout)
        return ChatStream(call)

    def list_memories(
        self,
        user_id: str = "",
        *,
        page_size: int = 0,
        page_token: str = "",
        kind: memory_pb2.MemoryKind = memory_pb2.MEMORY_KIND_UNSPECIFIED,
        category: str = "",
        slot: str = "",
        current_view_only: bool = False,
        timeout: float | None = None,
    ) -> pb.ListMemoriesResponse:
        """One page of the user's memories, newest first."""
        request = pb.ListMemoriesRequest(
            user_id=user_id,
            page_size=page_size,
            page_token=page_token,
            kind=kind,
            category=category,
            slot=slot,
            current_view_only=current_view_only,
        )
        return self._call(self._memory.ListMemories, request, retry=True, timeout=timeout)

    def get_memory(self, memory_id: str, *, timeout: float | None = None) -> pb.GetMemoryResponse:
        """One memory by id."""
        request = pb.GetMemoryRequest(memory_id=memory_id)
        return self._call(self._memory.GetMemory, request, retry=True, timeout=timeout)

    def delete_memory(
        self, memory_id: str, *, timeout: float | None = None
    ) -> pb.DeleteMemoryResponse:
        """Delete one memory; its history records the deletion."""
        request = pb.DeleteMemoryRequest(memory_id=memory_id)
        return self._call(self._memory.DeleteMemory, request, retry=True, timeout=timeout)

    def get_memory_history(
        self,
        memory_id: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> pb.GetMemoryHistoryResponse:
        """The events that explain a memory, oldest first."""
        request = pb.GetMemoryHistoryRequest(
            memory_id=memory_id, page_size=page_size, page_token=page_token
        )
        return self._call(self._memory.GetMemoryHistory, request, retry=True, timeout=timeout)

    def get_extraction(
        self, extraction_id: str, *, timeout: float | None = None
    ) -> pb.GetExtractionResponse:
        """The state of an extraction job and the facts it produced."""
        request = pb.GetExtractionRequest(extraction_id=extraction_id)
        return self._call(self._memory.GetExtraction, request, retry=True, timeout=timeout)

    def forget_user(
        self, user_id: str = "", *, timeout: float | None = None
    ) -> pb.ForgetUserResponse:
        """Erase everything stored about a user."""
        request = pb.ForgetUserRequest(user_id=user_id)
        return self._call(self._memory.ForgetUser, request, retry=True, timeout=timeout)

    def export_user(
        self, user_id: str = "", *, timeout: float | None = None
    ) -> Iterator[pb.ExportUserResponse]:
        """Everything stored about a user, streamed from one snapshot: the user first, then
        sessions, messages, memories (superseded ones too), their events and extractions.

        Items are read as the server sends them; iterating raises MemoireError (NotFound for
        an unknown user). ``timeout`` bounds the whole export: raise it for long histories.
        """
        request = pb.ExportUserRequest(user_id=user_id)
        return self._stream(self._memory.ExportUser, request, retry=True, timeout=timeout)

    # --- AccountService --------------------------------------------------------------------

    def create_app(
        self, name: str, key_name: str = "", *, timeout: float | None = None
    ) -> apb.CreateAppResponse:
        """Register an app (a tenant) and issue its first app key, whose secret is in the
        response and nowhere else.

        The client's ``api_key`` must be the server's admin key (``MEMOIRE_ADMIN_KEY`` on the
        server), unless the server allows open sign-up. Not retried: a lost response would
        leave an app whose key nobody saw.
        """
        request = apb.CreateAppRequest(name=name, key_name=key_name)
        return self._call(self._accounts.CreateApp, request, retry=False, timeout=timeout)

    def create_user(
        self,
        user_id: str,
        *,
        metadata: Mapping[str, str] | None = None,
        issue_api_key: bool = False,
        timeout: float | None = None,
    ) -> apb.CreateUserResponse:
        """Register a user (an existing id is returned unchanged), optionally with a user key."""
        request = apb.CreateUserRequest(
            user_id=user_id, metadata=metadata or {}, issue_api_key=issue_api_key
        )
        return self._call(
            self._accounts.CreateUser, request, retry=not issue_api_key, timeout=timeout
        )

    def create_api_key(
        self,
        *,
        scope: account_pb2.ApiKeyScope = account_pb2.API_KEY_SCOPE_APP,
        user_id: str = "",
        name: str = "",
        expire_time: datetime | None = None,
        timeout: float | None = None,
    ) -> apb.CreateApiKeyResponse:
        """Issue a key; its secret is in the response and nowhere else."""
        request = apb.CreateApiKeyRequest(
            scope=scope, user_id=user_id, name=name, expire_time=_timestamp(expire_time)
        )
        return self._call(self._accounts.CreateApiKey, request, retry=False, timeout=timeout)

    def rotate_api_key(
        self, key_id: str, *, overlap_seconds: int = 0, timeout: float | None = None
    ) -> apb.RotateApiKeyResponse:
        """Issue a replacement key; the old one stops after ``overlap_seconds``."""
        request = apb.RotateApiKeyRequest(key_id=key_id, overlap_seconds=overlap_seconds)
        return self._call(self._accounts.RotateApiKey, request, retry=False, timeout=timeout)

    def revoke_api_key(
        self, key_id: str, *, timeout: float | None = None
    ) -> apb.RevokeApiKeyResponse:
        """Stop a key at once."""
        request = apb.RevokeApiKeyRequest(key_id=key_id)
        return self._call(self._accounts.RevokeApiKey, request, retry=True, timeout=timeout)

    def create_session(
        self,
        user_id: str = "",
        session_id: str = "",
        *,
        metadata: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> apb.CreateSessionResponse:
        """Open a session (an existing id is returned unchanged)."""
        request = apb.CreateSessionRequest(
            user_id=user_id, session_id=session_id, metadata=metadata or {}
        )
        return self._call(self._accounts.CreateSession, request, retry=True, timeout=timeout)


class ChatStream:
    """The responses of a blocking ObserveChat stream; failures raise MemoireError."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[pb.ObserveChatResponse]:
        return self

    def __next__(self) -> pb.ObserveChatResponse:
        try:
            response: pb.ObserveChatResponse = next(self._call)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return response

    def cancel(self) -> None:
        self._call.cancel()


class AsyncMemoireClient:
    """The asyncio twin of :class:`MemoireClient`: the same methods, awaited.

    The channel is opened on first use, on the running event loop (and again if a later call
    runs on another loop).
    """

    def __init__(
        self,
        api_key: str | None = None,
        target: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: Seq[tuple[str, Any]] = (),
    ) -> None:
        self._s = _Settings(api_key, target, timeout, retry or RetryPolicy(), credentials, options)
        self._channel: grpc.aio.Channel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._memory_stub: pb_grpc.MemoryServiceAsyncStub | None = None
        self._accounts_stub: apb_grpc.AccountServiceAsyncStub | None = None

    @property
    def target(self) -> str:
        return self._s.target

    def _connect(self) -> tuple[pb_grpc.MemoryServiceAsyncStub, apb_grpc.AccountServiceAsyncStub]:
        loop = asyncio.get_running_loop()
        if self._channel is None or self._loop is not loop:
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self._s.target, options=self._s.options)
            else:
                self._channel = grpc.aio.secure_channel(
                    self._s.target, self._credentials, options=self._s.options
                )
            self._loop = loop
            self._memory_stub = pb_grpc.MemoryServiceStub(self._channel)
            self._accounts_stub = apb_grpc.AccountServiceStub(self._channel)
        assert self._memory_stub is not None
        assert self._accounts_stub is not None
        return self._memory_stub, self._accounts_stub

    @property
    def _credentials(self) -> grpc.ChannelCredentials | None:
        return self._s.credentials

    @property
    def _memory(self) -> pb_grpc.MemoryServiceAsyncStub:
        return self._connect()[0]

    @property
    def _accounts(self) -> apb_grpc.AccountServiceAsyncStub:
        return self._connect()[1]

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close(None)

    async def __aenter__(self) -> AsyncMemoireClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _call(
        self,
        method: Callable[..., Awaitable[Resp]],
        request: Any,
        *,
        retry: bool,
        timeout: float | None,
    ) -> Resp:
        deadline = _deadline(self._s, timeout)
        policy = self._s.retry if retry else NO_RETRY
        attempt = 0
        while True:
            attempt += 1
            remaining = max(deadline - time.monotonic(), 0.001)
            try:
                return await method(request, metadata=self._s.metadata, timeout=remaining)
            except grpc.RpcError as error:
                failure = from_rpc_error(error)
                delay = _pause(policy, attempt, failure, deadline)
                if delay is None:
                    raise failure from error
            await asyncio.sleep(delay)

    async def _stream(
        self,
        method: grpc.aio.UnaryStreamMultiCallable[Req, Resp],
        request: Req,
        *,
        retry: bool,
        timeout: float | None,
    ) -> AsyncIterator[Resp]:
        """The items of a server stream, as :meth:`MemoireClient._stream` reads them."""
        deadline = _deadline(self._s, timeout)
        policy = self._s.retry if retry else NO_RETRY
        attempt = 0
        while True:
            attempt += 1
            remaining = max(deadline - time.monotonic(), 0.001)
            call = method(request, metadata=self._s.metadata, timeout=remaining)
            received = False
            try:
                async for item in call:
                    received = True
                    yield item
            except grpc.RpcError as error:
                failure = from_rpc_error(error)
                delay = None if received else _pause(policy, attempt, failure, deadline)
                if delay is None:
                    raise failure from error
            else:
                return
            finally:
                call.cancel()
            await asyncio.sleep(delay)

    # --- MemoryService ---------------------------------------------------------------------

    async def ingest(
        self,
        user_id: str,
        messages: Iterable[MessageLike],
        *,
        session_id: str = "",
        skip_extraction: bool = False,
        timeout: float | None = None,
    ) -> pb.IngestResponse:
        """Store messages verbatim; retried only when every message has a client_message_id."""
        request, safe = _ingest(user_id, messages, session_id, skip_extraction)
        return await self._call(self._memory.Ingest, request, retry=safe, timeout=timeout)

    async def add_memories(
        self,
        user_id: str,
        facts: Iterable[FactLike],
        *,
        request_id: str = "",
        timeout: float | None = None,
    ) -> pb.AddMemoriesResponse:
        """Write facts directly; retried only with a ``request_id``."""
        request = pb.AddMemoriesRequest(
            user_id=user_id, facts=[_fact(f) for f in facts], request_id=request_id
        )
        return await self._call(
            self._memory.AddMemories, request, retry=bool(request_id), timeout=timeout
        )

    async def recall(
        self,
        user_id: str,
        query: str,
        *,
        limit: int = 0,
        kinds: Iterable[memory_pb2.MemoryKind] = (),
        categories: Iterable[str] = (),
        current_view_only: bool = False,
        as_of: datetime | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        session_id: str = "",
        timeout: float | None = None,
    ) -> pb.RecallResponse:
        """The memories most relevant to ``query``, best first."""
        request = _recall(
            user_id, query, limit, kinds, categories, current_view_only, as_of, start, end,
            session_id,
        )  # fmt: skip
        return await self._call(self._memory.Recall, request, retry=True, timeout=timeout)

    async def conscious(
        self, user_id: str = "", *, limit: int = 0, timeout: float | None = None
    ) -> pb.ConsciousResponse:
        """The user's essential facts and a prompt block built from them."""
        request = pb.ConsciousRequest(user_id=user_id, limit=limit)
        return await self._call(self._memory.Conscious, request, retry=True, timeout=timeout)

    def observe_chat(self, *, timeout: float | None = None) -> AsyncChatStream:
        """Open an ObserveChat stream: ``write`` events, ``read`` (or ``async for``) responses."""
        call = self._memory.ObserveChat(None, metadata=self._s.metadata, timeout=timeout)
        return AsyncChatStream(call)

    async def list_memories(
        self,
        user_id: str = "",
        *,
        page_size: int = 0,
        page_token: str = "",
        kind: memory_pb2.MemoryKind = memory_pb2.MEMORY_KIND_UNSPECIFIED,
        category: str = "",
        slot: str = "",
        current_view_only: bool = False,
        timeout: float | None = None,
    ) -> pb.ListMemoriesResponse:
        """One page of the user's memories, newest first."""
        request = pb.ListMemoriesRequest(
            user_id=user_id,
            page_size=page_size,
            page_token=page_token,
            kind=kind,
            category=category,
            slot=slot,
            current_view_only=current_view_only,
        )
        return await self._call(self._memory.ListMemories, request, retry=True, timeout=timeout)

    async def get_memory(
        self, memory_id: str, *, timeout: float | None = None
    ) -> pb.GetMemoryResponse:
        """One memory by id."""
        request = pb.GetMemoryRequest(memory_id=memory_id)
        return await self._call(self._memory.GetMemory, request, retry=True, timeout=timeout)

    async def delete_memory(
        self, memory_id: str, *, timeout: float | None = None
    ) -> pb.DeleteMemoryResponse:
        """Delete one memory; its history records the deletion."""
        request = pb.DeleteMemoryRequest(memory_id=memory_id)
        return await self._call(self._memory.DeleteMemory, request, retry=True, timeout=timeout)

    async def get_memory_history(
        self,
        memory_id: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> pb.GetMemoryHistoryResponse:
        """The events that explain a memory, oldest first."""
        request = pb.GetMemoryHistoryRequest(
            memory_id=memory_id, page_size=page_size, page_token=page_token
        )
        return await self._call(self._memory.GetMemoryHistory, request, retry=True, timeout=timeout)

    async def get_extraction(
        self, extraction_id: str, *, timeout: float | None = None
    ) -> pb.GetExtractionResponse:
        """The state of an extraction job and the facts it produced."""
        request = pb.GetExtractionRequest(extraction_id=extraction_id)
        return await self._call(self._memory.GetExtraction, request, retry=True, timeout=timeout)

    async def forget_user(
        self, user_id: str = "", *, timeout: float | None = None
    ) -> pb.ForgetUserResponse:
        """Erase everything stored about a user."""
        request = pb.ForgetUserRequest(user_id=user_id)
        return await self._call(self._memory.ForgetUser, request, retry=True, timeout=timeout)

    def export_user(
        self, user_id: str = "", *, timeout: float | None = None
    ) -> AsyncIterator[pb.ExportUserResponse]:
        """Everything stored about a user, streamed (``async for``); see
        :meth:`MemoireClient.export_user`."""
        request = pb.ExportUserRequest(user_id=user_id)
        return self._stream(self._memory.ExportUser, request, retry=True, timeout=timeout)

    # --- AccountService --------------------------------------------------------------------

    async def create_app(
        self, name: str, key_name: str = "", *, timeout: float | None = None
    ) -> apb.CreateAppResponse:
        """Register an app and issue its first app key; needs the server's admin key as the
        client's ``api_key``. See :meth:`MemoireClient.create_app`."""
        request = apb.CreateAppRequest(name=name, key_name=key_name)
        return await self._call(self._accounts.CreateApp, request, retry=False, timeout=timeout)

    async def create_user(
        self,
        user_id: str,
        *,
        metadata: Mapping[str, str] | None = None,
        issue_api_key: bool = False,
        timeout: float | None = None,
    ) -> apb.CreateUserResponse:
        """Register a user (an existing id is returned unchanged), optionally with a user key."""
        request = apb.CreateUserRequest(
            user_id=user_id, metadata=metadata or {}, issue_api_key=issue_api_key
        )
        return await self._call(
            self._accounts.CreateUser, request, retry=not issue_api_key, timeout=timeout
        )

    async def create_api_key(
        self,
        *,
        scope: account_pb2.ApiKeyScope = account_pb2.API_KEY_SCOPE_APP,
        user_id: str = "",
        name: str = "",
        expire_time: datetime | None = None,
        timeout: float | None = None,
    ) -> apb.CreateApiKeyResponse:
        """Issue a key; its secret is in the response and nowhere else."""
        request = apb.CreateApiKeyRequest(
            scope=scope, user_id=user_id, name=name, expire_time=_timestamp(expire_time)
        )
        return await self._call(self._accounts.CreateApiKey, request, retry=False, timeout=timeout)

    async def rotate_api_key(
        self, key_id: str, *, overlap_seconds: int = 0, timeout: float | None = None
    ) -> apb.RotateApiKeyResponse:
        """Issue a replacement key; the old one stops after ``overlap_seconds``."""
        request = apb.RotateApiKeyRequest(key_id=key_id, overlap_seconds=overlap_seconds)
        return await self._call(self._accounts.RotateApiKey, request, retry=False, timeout=timeout)

    async def revoke_api_key(
        self, key_id: str, *, timeout: float | None = None
    ) -> apb.RevokeApiKeyResponse:
        """Stop a key at once."""
        request = apb.RevokeApiKeyRequest(key_id=key_id)
        return await self._call(self._accounts.RevokeApiKey, request, retry=True, timeout=timeout)

    async def create_session(
        self,
        user_id: str = "",
        session_id: str = "",
        *,
        metadata: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> apb.CreateSessionResponse:
        """Open a session (an existing id is returned unchanged)."""
        request = apb.CreateSessionRequest(
            user_id=user_id, session_id=session_id, metadata=metadata or {}
        )
        return await self._call(self._accounts.CreateSession, request, retry=True, timeout=timeout)


class AsyncChatStream:
    """An asyncio ObserveChat stream; failures raise MemoireError."""

    def __init__(self, call: Any) -> None:
        self._call = call

    async def write(self, request: pb.ObserveChatRequest) -> None:
        try:
            await self._call.write(request)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    async def done_writing(self) -> None:
        """Half-close: the server finishes pending updates, then ends the stream."""
        try:
            await self._call.done_writing()
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    async def read(self) -> pb.ObserveChatResponse | None:
        """The next response, or None once the server ended the stream."""
        try:
            response = await self._call.read()
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        if isinstance(response, pb.ObserveChatResponse):
            return response
        return None  # grpc.aio.EOF: the server ended the stream

    def cancel(self) -> None:
        self._call.cancel()

    async def __aiter__(self) -> AsyncIterator[pb.ObserveChatResponse]:
        while (response := await self.read()) is not None:
            yield response

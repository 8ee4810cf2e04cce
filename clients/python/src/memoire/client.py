"""Typed clients for both services: ``MemoireClient`` (blocking) and ``AsyncMemoireClient``.

Every call carries the API key, has a deadline (``timeout``, 10 s by default) and raises a
:class:`~memoire.errors.MemoireError` subclass on failure. Calls that are safe to repeat —
reads, idempotent calls and writes that carry the caller's own ids — are retried on
UNAVAILABLE with jittered exponential backoff, and after a rate limit once the server's wait
is over, within the same deadline.

Both clients share one table of calls (in :class:`_Client`): each method builds its request with
the function of the same name in :mod:`memoire.calls`, and only sending it differs, over a
:class:`~memoire.transport.SyncTransport` or an :class:`~memoire.transport.AsyncTransport`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from collections.abc import Sequence as Seq
from typing import Any, Generic, ParamSpec, Self, TypeVar, overload

import grpc
from google.protobuf.message import Message

from memoire import calls
from memoire.calls import Call, FactLike, MessageLike
from memoire.errors import from_rpc_error
from memoire.transport import AsyncTransport, Metadata, RetryPolicy, Settings, SyncTransport
from memoire_proto.v1 import memory_service_pb2 as pb

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

P = ParamSpec("P")
Resp = TypeVar("Resp", bound=Message)
TransportT = TypeVar("TransportT", SyncTransport, AsyncTransport)


# --- the table of calls ----------------------------------------------------------------------


class _Method(Generic[P, Resp]):
    """A client method made of a function of :mod:`memoire.calls`, which builds its call; each
    client binds it to its own way of sending."""

    def __init__(self, build: Callable[P, Call[Resp]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def bind(self, client: object, send: Callable[P, Any]) -> Any:
        method = functools.wraps(self.build)(send)
        # Bound once per client: later lookups find it in the instance, past this descriptor.
        client.__dict__[self.name] = method
        return method


class _Unary(_Method[P, Resp]):
    """A method that returns the call's reply (a coroutine of it, on the asyncio client)."""

    @overload
    def __get__(self, client: None, owner: type) -> Self: ...
    @overload
    def __get__(self, client: MemoireClient, owner: type) -> Callable[P, Resp]: ...
    @overload
    def __get__(
        self, client: AsyncMemoireClient, owner: type
    ) -> Callable[P, Coroutine[Any, Any, Resp]]: ...
    def __get__(self, client: MemoireClient | AsyncMemoireClient | None, owner: type) -> Any:
        return self if client is None else self.bind(client, client._unary(self.build))


class _ServerStream(_Method[P, Resp]):
    """A method that returns the call's replies as they arrive, for ``for`` (``async for`` on
    the asyncio client)."""

    @overload
    def __get__(self, client: None, owner: type) -> Self: ...
    @overload
    def __get__(self, client: MemoireClient, owner: type) -> Callable[P, Iterator[Resp]]: ...
    @overload
    def __get__(
        self, client: AsyncMemoireClient, owner: type
    ) -> Callable[P, AsyncIterator[Resp]]: ...
    def __get__(self, client: MemoireClient | AsyncMemoireClient | None, owner: type) -> Any:
        return self if client is None else self.bind(client, client._server_stream(self.build))


class _Client(Generic[TransportT]):
    """What both clients share: how they are made, and every call of both services but
    ObserveChat, whose use differs between them."""

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
        api_key = api_key if api_key is not None else os.environ.get("MEMOIRE_API_KEY", "")
        self._metadata: Metadata = (("x-api-key", api_key),) if api_key else ()
        settings = Settings(
            target=target or os.environ.get("MEMOIRE_TARGET", DEFAULT_TARGET),
            credentials=credentials,
            options=[("grpc.primary_user_agent", USER_AGENT), *options],
            timeout=timeout,
            retry=retry or RetryPolicy(),
        )
        self._transport: TransportT = self._open(settings)

    def _open(self, settings: Settings) -> TransportT:
        raise NotImplementedError

    @property
    def target(self) -> str:
        return self._transport.settings.target

    # MemoryService
    ingest = _Unary(calls.ingest)
    add_memories = _Unary(calls.add_memories)
    recall = _Unary(calls.recall)
    conscious = _Unary(calls.conscious)
    list_memories = _Unary(calls.list_memories)
    get_memory = _Unary(calls.get_memory)
    delete_memory = _Unary(calls.delete_memory)
    get_memory_history = _Unary(calls.get_memory_history)
    get_extraction = _Unary(calls.get_extraction)
    forget_user = _Unary(calls.forget_user)
    export_user = _ServerStream(calls.export_user)
    # AccountService
    create_app = _Unary(calls.create_app)
    create_user = _Unary(calls.create_user)
    create_api_key = _Unary(calls.create_api_key)
    rotate_api_key = _Unary(calls.rotate_api_key)
    revoke_api_key = _Unary(calls.revoke_api_key)
    create_session = _Unary(calls.create_session)


class ClosesOnExit:
    """``with`` support for anything with a ``close()``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class MemoireClient(_Client[SyncTransport], ClosesOnExit):
    """Blocking client for MemoryService and AccountService.

    ``api_key`` and ``target`` default to ``MEMOIRE_API_KEY`` and ``MEMOIRE_TARGET``
    (then ``127.0.0.1:50051``). Pass ``credentials`` (``grpc.ssl_channel_credentials()``)
    for TLS. Use it as a context manager, or call :meth:`close`.
    """

    def _open(self, settings: Settings) -> SyncTransport:
        return SyncTransport(settings)

    def close(self) -> None:
        self._transport.close()

    def _unary(self, build: Callable[P, Call[Resp]]) -> Callable[P, Resp]:
        def send(*args: P.args, **kwargs: P.kwargs) -> Resp:
            return self._transport.unary(build(*args, **kwargs), self._metadata)

        return send

    def _server_stream(self, build: Callable[P, Call[Resp]]) -> Callable[P, Iterator[Resp]]:
        def send(*args: P.args, **kwargs: P.kwargs) -> Iterator[Resp]:
            return self._transport.stream(build(*args, **kwargs), self._metadata)

        return send

    def observe_chat(
        self, requests: Iterable[pb.ObserveChatRequest], *, timeout: float | None = None
    ) -> ChatStream:
        """Open an ObserveChat stream fed by ``requests``; iterate the result for responses."""
        return ChatStream(self._transport.chat(iter(requests), self._metadata, timeout))


class AsyncMemoireClient(_Client[AsyncTransport]):
    """The asyncio twin of :class:`MemoireClient`: the same methods, awaited.

    The channel is opened on first use, on the running event loop (and again if a later call
    runs on another loop).
    """

    def _open(self, settings: Settings) -> AsyncTransport:
        return AsyncTransport(settings)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _unary(self, build: Callable[P, Call[Resp]]) -> Callable[P, Coroutine[Any, Any, Resp]]:
        async def send(*args: P.args, **kwargs: P.kwargs) -> Resp:
            return await self._transport.unary(build(*args, **kwargs), self._metadata)

        return send

    def _server_stream(self, build: Callable[P, Call[Resp]]) -> Callable[P, AsyncIterator[Resp]]:
        def send(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Resp]:
            return self._transport.stream(build(*args, **kwargs), self._metadata)

        return send

    def observe_chat(self, *, timeout: float | None = None) -> AsyncChatStream:
        """Open an ObserveChat stream: ``write`` events, ``read`` (or ``async for``) responses."""
        return AsyncChatStream(self._transport.chat(self._metadata, timeout))


# --- ObserveChat -----------------------------------------------------------------------------


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

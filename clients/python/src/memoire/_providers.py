"""Proxies that give OpenAI and Anthropic clients memory, intercepting only
``chat.completions.create``, ``messages.create`` and ``messages.stream``.

Everything else reaches the real client untouched, and what the intercepted calls return
is the provider SDK's own object: a stream is the SDK's stream, observed by swapping its
internal iterator for one that forwards each chunk's text before handing the chunk on.
Nothing here imports ``openai`` or ``anthropic``; clients are recognised by their shape.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar, TypeVar, cast

from memoire._flavours import ANTHROPIC, OPENAI, Flavour, last_user_message
from memoire._hooks import Memory, Turn
from memoire_proto.v1 import memory_service_pb2 as pb

C = TypeVar("C")


def _is_async(method: Any) -> bool:
    """Whether an SDK method is a coroutine function, under the SDKs' decorators."""
    return inspect.iscoroutinefunction(method) or inspect.iscoroutinefunction(
        inspect.unwrap(method)
    )


class _Scope:
    """What a wrapped client was given: the Memoire, the default user and session."""

    def __init__(self, memoire: Memory, user_id: str | None, session_id: str) -> None:
        self.memoire = memoire
        self.user_id = user_id
        self.session_id = session_id

    def begin(self, flavour: Flavour, kwargs: dict[str, Any]) -> Turn | None:
        """Open the turn; the call's arguments must still be completed with its context."""
        try:
            user = flavour.user_id(kwargs) or self.user_id
            return self.memoire.begin(user, self.session_id, last_user_message(kwargs))
        except Exception as error:
            self.memoire.memory_failed(error, "preparing memory for the call")
            return None

    def with_context(
        self, flavour: Flavour, kwargs: dict[str, Any], turn: Turn, context: pb.TurnContext | None
    ) -> dict[str, Any]:
        if context is None or not context.prompt_block:
            return kwargs
        try:
            return flavour.inject(kwargs, context.prompt_block)
        except Exception as error:
            turn.cancel()
            self.memoire.memory_failed(error, "adding memory to the prompt")
            return kwargs

    def before(
        self, flavour: Flavour, kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], Turn | None]:
        """The call's arguments with the user's memory, and the turn that stores the call."""
        turn = self.begin(flavour, kwargs)
        if turn is None:
            return kwargs, None
        return self.with_context(flavour, kwargs, turn, self.memoire.context(turn)), turn

    async def abefore(
        self, flavour: Flavour, kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], Turn | None]:
        """:meth:`before` for asyncio callers."""
        turn = self.begin(flavour, kwargs)
        if turn is None:
            return kwargs, None
        return self.with_context(flavour, kwargs, turn, await self.memoire.acontext(turn)), turn

    def settle(self, flavour: Flavour, turn: Turn, result: Any, kwargs: dict[str, Any]) -> bool:
        """Hand the call's reply to its turn: a stream as the caller reads it, anything else at
        once. True when the caller should then wait for the turn to be stored."""
        if kwargs.get("stream") is True:
            observe_stream(result, turn, flavour, self.memoire)
            return False
        try:
            text = flavour.reply_text(result)
        except Exception as error:
            turn.cancel()
            self.memoire.memory_failed(error, "reading the reply")
            return True
        turn.end(text)
        return True


@contextlib.contextmanager
def _cancelled_on_error(turn: Turn | None) -> Iterator[None]:
    """Drop the turn when the provider's call fails; the failure reaches the caller unchanged."""
    try:
        yield
    except BaseException:
        if turn is not None:
            turn.cancel()
        raise


# --- proxies ------------------------------------------------------------------------------------


class _Proxy:
    """Forwards every attribute to the wrapped object; ``isinstance`` sees the wrapped class."""

    __slots__ = ("_scope", "_target")

    def __init__(self, target: Any, scope: _Scope) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_scope", scope)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._target, name)

    def __dir__(self) -> list[str]:
        return dir(self._target)

    def __repr__(self) -> str:
        return repr(self._target)

    # So that isinstance(wrapped, openai.OpenAI) still holds.
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._target)


class _ClientProxy(_Proxy):
    """A whole client: its copies (``with_options``, ``copy``) keep memory."""

    __slots__ = ()

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return type(self)(self._target.with_options(*args, **kwargs), self._scope)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        return type(self)(self._target.copy(*args, **kwargs), self._scope)


class _SyncCreate(_Proxy):
    """A resource whose ``create`` gets the user's memory before the call and stores the turn
    after it."""

    __slots__ = ()
    flavour: ClassVar[Flavour]

    def create(self, *args: Any, **kwargs: Any) -> Any:
        scope: _Scope = self._scope
        call_kwargs, turn = scope.before(self.flavour, kwargs)
        with _cancelled_on_error(turn):
            result = self._target.create(*args, **call_kwargs)
        if turn is not None and scope.settle(self.flavour, turn, result, kwargs):
            scope.memoire.stored(turn)
        return result


class _AsyncCreate(_Proxy):
    """:class:`_SyncCreate` for the providers' asyncio clients."""

    __slots__ = ()
    flavour: ClassVar[Flavour]

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        scope: _Scope = self._scope
        call_kwargs, turn = await scope.abefore(self.flavour, kwargs)
        with _cancelled_on_error(turn):
            result = await self._target.create(*args, **call_kwargs)
        if turn is not None and scope.settle(self.flavour, turn, result, kwargs):
            await scope.memoire.astored(turn)
        return result


def _resource(target: Any, scope: _Scope, blocking: type[_Proxy], awaited: type[_Proxy]) -> Any:
    """``target`` behind the proxy for its kind: blocking or asyncio."""
    return (awaited if _is_async(target.create) else blocking)(target, scope)


class _OpenAIClient(_ClientProxy):
    __slots__ = ()

    @property
    def chat(self) -> Any:
        return _OpenAIChat(self._target.chat, self._scope)


class _OpenAIChat(_Proxy):
    __slots__ = ()

    @property
    def completions(self) -> Any:
        return _resource(self._target.completions, self._scope, _SyncCompletions, _AsyncCompletions)


class _SyncCompletions(_SyncCreate):
    __slots__ = ()
    flavour = OPENAI


class _AsyncCompletions(_AsyncCreate):
    __slots__ = ()
    flavour = OPENAI


class _AnthropicClient(_ClientProxy):
    __slots__ = ()

    @property
    def messages(self) -> Any:
        return _resource(self._target.messages, self._scope, _SyncMessages, _AsyncMessages)


_SYNC_REQUEST = "_MessageStreamManager__api_request"
_ASYNC_REQUEST = "_AsyncMessageStreamManager__api_request"


class _SyncMessages(_SyncCreate):
    __slots__ = ()
    flavour = ANTHROPIC

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        scope: _Scope = self._scope
        call_kwargs, turn = scope.before(ANTHROPIC, kwargs)
        with _cancelled_on_error(turn):
            manager = self._target.stream(*args, **call_kwargs)
        if turn is None:
            return manager
        request = getattr(manager, _SYNC_REQUEST, None)
        if not callable(request):
            turn.cancel()
            scope.memoire.warn_unobservable("this anthropic version's messages.stream")
            return manager
        entered = _Flag()

        def observed_request() -> Any:
            entered.set()
            with _cancelled_on_error(turn):
                raw = request()
            return observe_stream(raw, turn, ANTHROPIC, scope.memoire)

        setattr(manager, _SYNC_REQUEST, observed_request)
        weakref.finalize(manager, _cancel_unless, entered, turn)
        return manager


class _AsyncMessages(_AsyncCreate):
    __slots__ = ()
    flavour = ANTHROPIC

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        # messages.stream is not a coroutine: the manager it returns does the request when
        # entered, so memory is fetched there too, on the caller's event loop.
        scope: _Scope = self._scope
        manager = self._target.stream(*args, **kwargs)
        request = getattr(manager, _ASYNC_REQUEST, None)
        if request is None or not inspect.isawaitable(request):
            scope.memoire.warn_unobservable("this anthropic version's messages.stream")
            return manager
        setattr(
            manager, _ASYNC_REQUEST, _observed_async_request(self._target, scope, kwargs, request)
        )
        return manager


async def _observed_async_request(
    messages: Any, scope: _Scope, kwargs: dict[str, Any], request: Any
) -> Any:
    call_kwargs, turn = await scope.abefore(ANTHROPIC, kwargs)
    if call_kwargs is not kwargs:
        # The prompt gained memory: make the request with it, and drop the original one.
        close = getattr(request, "close", None)
        if callable(close):
            close()
        request = getattr(messages.stream(**call_kwargs), _ASYNC_REQUEST)
    with _cancelled_on_error(turn):
        raw = await request
    if turn is None:
        return raw
    return observe_stream(raw, turn, ANTHROPIC, scope.memoire)


class _Flag:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False

    def set(self) -> None:
        self.value = True


def _cancel_unless(entered: _Flag, turn: Turn) -> None:
    if not entered.value:
        turn.cancel()


# --- streams --------------------------------------------------------------------------------------


def observe_stream(stream: Any, turn: Turn, flavour: Flavour, memoire: Memory) -> Any:
    """The SDK's own stream, blocking or asyncio, now forwarding each chunk's text as it passes
    to the caller."""
    relay = _Relay(turn, flavour, memoire)
    try:
        stream._iterator = relay.follow(stream._iterator)
    except (AttributeError, TypeError):
        turn.cancel()
        memoire.warn_unobservable(f"{type(stream).__name__} streams")
        return stream
    stream.close = _ending_close(stream, turn)
    # A stream dropped unread ends its turn as abandoned, storing what was seen.
    weakref.finalize(stream, turn.end, None, True)
    return stream


def _ending_close(stream: Any, turn: Turn) -> Callable[[], Any]:
    """The stream's own ``close``, after ending the turn as abandoned (a no-op when the stream
    was read to the end). The stream is held weakly, so that dropping it finalizes it."""
    close = type(stream).close
    ref = weakref.ref(stream)

    def end_and_close() -> Any:
        turn.end(abandoned=True)
        target = ref()
        return None if target is None else close(target)

    if not inspect.iscoroutinefunction(close):
        return end_and_close

    async def aend_and_close() -> None:
        await end_and_close()

    return aend_and_close


class _Relay:
    """Follows a stream for its turn: each chunk's text is forwarded, and the turn ends with
    the stream (abandoned if the caller stopped reading half-way)."""

    def __init__(self, turn: Turn, flavour: Flavour, memoire: Memory) -> None:
        self.turn = turn
        self.flavour = flavour
        self.memoire = memoire

    def follow(self, inner: Iterator[Any] | AsyncIterator[Any]) -> Any:
        """An iterator like ``inner`` (async if it is) that yields its chunks."""
        if isinstance(inner, AsyncIterator):
            return self._afollow(inner)
        return self._follow(inner)

    def forward(self, chunk: Any) -> None:
        try:
            self.turn.delta(self.flavour.chunk_text(chunk))
        except Exception as error:
            self.memoire.memory_failed(error, "reading a streamed chunk")

    @contextlib.contextmanager
    def _ending_turn(self) -> Iterator[None]:
        abandoned = True
        try:
            yield
            abandoned = False
        finally:
            self.turn.end(abandoned=abandoned)

    def _follow(self, inner: Iterator[Any]) -> Iterator[Any]:
        with self._ending_turn():
            for chunk in inner:
                self.forward(chunk)
                yield chunk
        self.memoire.stored(self.turn)

    async def _afollow(self, inner: AsyncIterator[Any]) -> AsyncIterator[Any]:
        with self._ending_turn():
            async for chunk in inner:
                self.forward(chunk)
                yield chunk
        await self.memoire.astored(self.turn)


# --- entry point --------------------------------------------------------------------------------


def wrap_client(memoire: Memory, client: C, user_id: str | None, session_id: str) -> C:
    """The client behind a memory proxy; TypeError for a client of unknown shape."""
    scope = _Scope(memoire, user_id, session_id)
    chat = getattr(client, "chat", None)
    if chat is not None and hasattr(chat, "completions"):
        return cast(C, _OpenAIClient(client, scope))
    messages = getattr(client, "messages", None)
    if messages is not None and hasattr(messages, "create"):
        return cast(C, _AnthropicClient(client, scope))
    raise TypeError(
        f"cannot wrap {type(client).__name__}: expected an OpenAI or Anthropic client "
        "(openai.OpenAI, openai.AsyncOpenAI, anthropic.Anthropic, anthropic.AsyncAnthropic)"
    )

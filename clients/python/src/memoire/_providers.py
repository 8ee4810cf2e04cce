"""Proxies that give OpenAI and Anthropic clients memory, intercepting only
``chat.completions.create``, ``messages.create`` and ``messages.stream``.

Everything else reaches the real client untouched, and what the intercepted calls return
is the provider SDK's own object: a stream is the SDK's stream, observed by swapping its
internal iterator for one that forwards each chunk's text before handing the chunk on.
Nothing here imports ``openai`` or ``anthropic``; clients are recognised by their shape.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from memoire.memory import Memoire, _Turn

C = TypeVar("C")


def _is_async(method: Any) -> bool:
    """Whether an SDK method is a coroutine function, under the SDKs' decorators."""
    return inspect.iscoroutinefunction(method) or inspect.iscoroutinefunction(
        inspect.unwrap(method)
    )


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list | tuple):
        return ""
    parts = [_get(p, "text") for p in content if _get(p, "type") == "text"]
    return "\n".join(p for p in parts if isinstance(p, str) and p)


def _last_user_message(kwargs: Mapping[str, Any]) -> str | None:
    """The text of the last message when the user said it (not in a tool-call loop)."""
    messages = kwargs.get("messages")
    if not isinstance(messages, list | tuple) or not messages:
        return None
    last = messages[-1]
    if _get(last, "role") != "user":
        return None
    return _text(_get(last, "content")).strip() or None


class _Flavour:
    """How one provider's calls carry the user, the prompt and the reply."""

    def user_id(self, kwargs: Mapping[str, Any]) -> str | None:
        raise NotImplementedError

    def inject(self, kwargs: dict[str, Any], block: str) -> dict[str, Any]:
        raise NotImplementedError

    def reply_text(self, result: Any) -> str:
        raise NotImplementedError

    def chunk_text(self, chunk: Any) -> str:
        raise NotImplementedError


class _OpenAI(_Flavour):
    def user_id(self, kwargs: Mapping[str, Any]) -> str | None:
        for name in ("user", "safety_identifier"):
            value = kwargs.get(name)
            if isinstance(value, str) and value:
                return value
        return None

    def inject(self, kwargs: dict[str, Any], block: str) -> dict[str, Any]:
        messages = list(kwargs.get("messages") or [])
        first = messages[0] if messages else None
        if isinstance(first, Mapping) and first.get("role") in ("system", "developer"):
            content = first.get("content")
            if isinstance(content, str):
                messages[0] = {**first, "content": f"{content}\n\n{block}" if content else block}
                return {**kwargs, "messages": messages}
            if isinstance(content, list | tuple):
                messages[0] = {**first, "content": [*content, {"type": "text", "text": block}]}
                return {**kwargs, "messages": messages}
        messages.insert(0, {"role": "system", "content": block})
        return {**kwargs, "messages": messages}

    def reply_text(self, result: Any) -> str:
        choices = _get(result, "choices") or []
        if not choices:
            return ""
        return _text(_get(_get(choices[0], "message"), "content"))

    def chunk_text(self, chunk: Any) -> str:
        for choice in _get(chunk, "choices") or ():
            if (_get(choice, "index") or 0) == 0:
                text = _get(_get(choice, "delta"), "content")
                return text if isinstance(text, str) else ""
        return ""


class _Anthropic(_Flavour):
    def user_id(self, kwargs: Mapping[str, Any]) -> str | None:
        value = _get(kwargs.get("metadata"), "user_id")
        return value if isinstance(value, str) and value else None

    def inject(self, kwargs: dict[str, Any], block: str) -> dict[str, Any]:
        system = kwargs.get("system")
        if isinstance(system, str) and system:
            new: Any = f"{system}\n\n{block}"
        elif isinstance(system, list | tuple) and system:
            # Appended, so a cached prefix of the caller's system blocks stays cached.
            new = [*system, {"type": "text", "text": block}]
        else:
            new = block
        return {**kwargs, "system": new}

    def reply_text(self, result: Any) -> str:
        return _text(_get(result, "content"))

    def chunk_text(self, chunk: Any) -> str:
        if _get(chunk, "type") != "content_block_delta":
            return ""
        delta = _get(chunk, "delta")
        text = _get(delta, "text") if _get(delta, "type") == "text_delta" else None
        return text if isinstance(text, str) else ""


OPENAI = _OpenAI()
ANTHROPIC = _Anthropic()


class _Scope:
    """What a wrapped client was given: the Memoire, the default user and session."""

    def __init__(self, memoire: Memoire, user_id: str | None, session_id: str) -> None:
        self.memoire = memoire
        self.user_id = user_id
        self.session_id = session_id

    def begin(
        self, flavour: _Flavour, kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], _Turn | None]:
        """Open the turn; the call's arguments must still be completed with its context."""
        try:
            user = flavour.user_id(kwargs) or self.user_id
            return kwargs, self.memoire.begin(user, self.session_id, _last_user_message(kwargs))
        except Exception as error:
            self.memoire.memory_failed(error, "preparing memory for the call")
            return kwargs, None

    def with_context(
        self, flavour: _Flavour, kwargs: dict[str, Any], turn: _Turn, block: str | None
    ) -> dict[str, Any]:
        if not block:
            return kwargs
        try:
            return flavour.inject(kwargs, block)
        except Exception as error:
            turn.cancel()
            self.memoire.memory_failed(error, "adding memory to the prompt")
            return kwargs

    def before(
        self, flavour: _Flavour, kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], _Turn | None]:
        kwargs, turn = self.begin(flavour, kwargs)
        if turn is None:
            return kwargs, None
        context = self.memoire.context(turn)
        return self.with_context(
            flavour, kwargs, turn, context.prompt_block if context else None
        ), turn

    async def abefore(
        self, flavour: _Flavour, kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], _Turn | None]:
        kwargs, turn = self.begin(flavour, kwargs)
        if turn is None:
            return kwargs, None
        context = await self.memoire.acontext(turn)
        return self.with_context(
            flavour, kwargs, turn, context.prompt_block if context else None
        ), turn

    def reply(self, flavour: _Flavour, turn: _Turn, result: Any) -> None:
        try:
            text = flavour.reply_text(result)
        except Exception as error:
            turn.cancel()
            self.memoire.memory_failed(error, "reading the reply")
            return
        turn.end(text)


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


class _OpenAIClient(_Proxy):
    __slots__ = ()

    @property
    def chat(self) -> Any:
        return _OpenAIChat(self._target.chat, self._scope)

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return _OpenAIClient(self._target.with_options(*args, **kwargs), self._scope)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        return _OpenAIClient(self._target.copy(*args, **kwargs), self._scope)


class _OpenAIChat(_Proxy):
    __slots__ = ()

    @property
    def completions(self) -> Any:
        completions = self._target.completions
        if _is_async(completions.create):
            return _AsyncCompletions(completions, self._scope)
        return _SyncCompletions(completions, self._scope)


class _SyncCompletions(_Proxy):
    __slots__ = ()

    def create(self, *args: Any, **kwargs: Any) -> Any:
        scope: _Scope = self._scope
        call_kwargs, turn = scope.before(OPENAI, kwargs)
        try:
            result = self._target.create(*args, **call_kwargs)
        except BaseException:
            if turn is not None:
                turn.cancel()
            raise
        if turn is None:
            return result
        if kwargs.get("stream") is True:
            return observe_stream(result, turn, OPENAI, scope.memoire)
        scope.reply(OPENAI, turn, result)
        scope.memoire.stored(turn)
        return result


class _AsyncCompletions(_Proxy):
    __slots__ = ()

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        scope: _Scope = self._scope
        call_kwargs, turn = await scope.abefore(OPENAI, kwargs)
        try:
            result = await self._target.create(*args, **call_kwargs)
        except BaseException:
            if turn is not None:
                turn.cancel()
            raise
        if turn is None:
            return result
        if kwargs.get("stream") is True:
            return observe_async_stream(result, turn, OPENAI, scope.memoire)
        scope.reply(OPENAI, turn, result)
        await scope.memoire.astored(turn)
        return result


class _AnthropicClient(_Proxy):
    __slots__ = ()

    @property
    def messages(self) -> Any:
        messages = self._target.messages
        if _is_async(messages.create):
            return _AsyncMessages(messages, self._scope)
        return _SyncMessages(messages, self._scope)

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return _AnthropicClient(self._target.with_options(*args, **kwargs), self._scope)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        return _AnthropicClient(self._target.copy(*args, **kwargs), self._scope)


_SYNC_REQUEST = "_MessageStreamManager__api_request"
_ASYNC_REQUEST = "_AsyncMessageStreamManager__api_request"


class _SyncMessages(_Proxy):
    __slots__ = ()

    def create(self, *args: Any, **kwargs: Any) -> Any:
        scope: _Scope = self._scope
        call_kwargs, turn = scope.before(ANTHROPIC, kwargs)
        try:
            result = self._target.create(*args, **call_kwargs)
        except BaseException:
            if turn is not None:
                turn.cancel()
            raise
        if turn is None:
            return result
        if kwargs.get("stream") is True:
            return observe_stream(result, turn, ANTHROPIC, scope.memoire)
        scope.reply(ANTHROPIC, turn, result)
        scope.memoire.stored(turn)
        return result

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        scope: _Scope = self._scope
        call_kwargs, turn = scope.before(ANTHROPIC, kwargs)
        try:
            manager = self._target.stream(*args, **call_kwargs)
        except BaseException:
            if turn is not None:
                turn.cancel()
            raise
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
            try:
                raw = request()
            except BaseException:
                turn.cancel()
                raise
            return observe_stream(raw, turn, ANTHROPIC, scope.memoire)

        setattr(manager, _SYNC_REQUEST, observed_request)
        weakref.finalize(manager, _cancel_unless, entered, turn)
        return manager


class _AsyncMessages(_Proxy):
    __slots__ = ()

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        scope: _Scope = self._scope
        call_kwargs, turn = await scope.abefore(ANTHROPIC, kwargs)
        try:
            result = await self._target.create(*args, **call_kwargs)
        except BaseException:
            if turn is not None:
                turn.cancel()
            raise
        if turn is None:
            return result
        if kwargs.get("stream") is True:
            return observe_async_stream(result, turn, ANTHROPIC, scope.memoire)
        scope.reply(ANTHROPIC, turn, result)
        await scope.memoire.astored(turn)
        return result

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
    try:
        raw = await request
    except BaseException:
        if turn is not None:
            turn.cancel()
        raise
    if turn is None:
        return raw
    return observe_async_stream(raw, turn, ANTHROPIC, scope.memoire)


class _Flag:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False

    def set(self) -> None:
        self.value = True


def _cancel_unless(entered: _Flag, turn: _Turn) -> None:
    if not entered.value:
        turn.cancel()


# --- streams --------------------------------------------------------------------------------------


def observe_stream(stream: Any, turn: _Turn, flavour: _Flavour, memoire: Memoire) -> Any:
    """The SDK's own stream, now forwarding each chunk's text as it passes to the caller."""
    try:
        inner = stream._iterator
        stream._iterator = _observed(inner, turn, flavour.chunk_text, memoire)
    except (AttributeError, TypeError):
        turn.cancel()
        memoire.warn_unobservable(f"{type(stream).__name__} streams")
        return stream
    cls = type(stream)
    ref = weakref.ref(stream)

    def close() -> None:
        turn.end(abandoned=True)  # a no-op when the stream was read to the end
        target = ref()
        if target is not None:
            cls.close(target)

    stream.close = close
    # A stream dropped unread ends its turn as abandoned, storing what was seen.
    weakref.finalize(stream, turn.end, None, True)
    return stream


def _observed(
    inner: Iterator[Any], turn: _Turn, text_of: Callable[[Any], str], memoire: Memoire
) -> Iterator[Any]:
    finished = False
    try:
        for chunk in inner:
            try:
                turn.delta(text_of(chunk))
            except Exception as error:
                memoire.memory_failed(error, "reading a streamed chunk")
            yield chunk
        finished = True
        turn.end()
    finally:
        if not finished:
            turn.end(abandoned=True)
    memoire.stored(turn)


def observe_async_stream(stream: Any, turn: _Turn, flavour: _Flavour, memoire: Memoire) -> Any:
    """:func:`observe_stream` for the SDKs' asyncio streams."""
    try:
        inner = stream._iterator
        stream._iterator = _aobserved(inner, turn, flavour.chunk_text, memoire)
    except (AttributeError, TypeError):
        turn.cancel()
        memoire.warn_unobservable(f"{type(stream).__name__} streams")
        return stream
    cls = type(stream)
    ref = weakref.ref(stream)

    async def close() -> None:
        turn.end(abandoned=True)
        target = ref()
        if target is not None:
            await cls.close(target)

    stream.close = close
    weakref.finalize(stream, turn.end, None, True)
    return stream


async def _aobserved(
    inner: AsyncIterator[Any], turn: _Turn, text_of: Callable[[Any], str], memoire: Memoire
) -> AsyncIterator[Any]:
    finished = False
    try:
        async for chunk in inner:
            try:
                turn.delta(text_of(chunk))
            except Exception as error:
                memoire.memory_failed(error, "reading a streamed chunk")
            yield chunk
        finished = True
        turn.end()
    finally:
        if not finished:
            turn.end(abandoned=True)
    await memoire.astored(turn)


# --- entry point --------------------------------------------------------------------------------


def wrap_client(memoire: Memoire, client: C, user_id: str | None, session_id: str) -> C:
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

"""``Memoire``: memory for the LLM clients you already use.

``Memoire(api_key=..., target=...).wrap(client)`` returns the client unchanged in every
way but two: before a chat call the user's memory is added to the system prompt, and after
it the user's message and the reply are stored as one turn. Each call is one ObserveChat
stream to the memory service. Memory never breaks the call: when the service is down, slow
(over ``recall_budget``) or failing, the call goes on without memory, one warning is
logged, and a circuit breaker skips memory until the service is back. Pass ``strict=True``
to get the memory errors raised instead.

All memory I/O runs on one private event loop thread per ``Memoire``, so the blocking and
the asyncio clients share one connection and one breaker.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import grpc

from memoire._hooks import Turn
from memoire._providers import wrap_client
from memoire._runtime import Runtime
from memoire.breaker import CircuitBreaker
from memoire.client import AsyncChatStream, AsyncMemoireClient, ClosesOnExit, MemoireClient
from memoire.errors import Cancelled, DeadlineExceeded, MemoireError, Unavailable
from memoire_proto.v1 import memory_service_pb2 as pb

__all__ = ["Memoire"]

log = logging.getLogger("memoire")

C = TypeVar("C")
T = TypeVar("T")

DEFAULT_RECALL_BUDGET = 0.15
# An ObserveChat stream lives as long as the LLM call it follows; this bounds a forgotten one.
DEFAULT_STREAM_TIMEOUT = 600.0


class Memoire(ClosesOnExit):
    """Connection, settings and circuit breaker for wrapped LLM clients.

    ``api_key`` and ``target`` default to ``MEMOIRE_API_KEY`` and ``MEMOIRE_TARGET``.
    ``recall_budget`` (seconds; default ``MEMOIRE_RECALL_BUDGET_MS``, else 150 ms) bounds
    what memory may add before a call; ``recall_limit``
    is how many recalled memories to inject (0: the server's default of 8). ``on_update``,
    if given, is called on the memory thread with each ``MemoryUpdate`` (the facts a turn's
    extraction created or changed); without it a turn's stream closes once it is stored.
    """

    def __init__(
        self,
        api_key: str | None = None,
        target: str | None = None,
        *,
        recall_budget: float | None = None,
        recall_limit: int = 0,
        strict: bool = False,
        breaker: CircuitBreaker | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        store_timeout: float = 10.0,
        stream_timeout: float = DEFAULT_STREAM_TIMEOUT,
        on_update: Callable[[pb.MemoryUpdate], object] | None = None,
    ) -> None:
        self.api_key = api_key
        self.target = target
        self.recall_budget = recall_budget if recall_budget is not None else _budget_from_env()
        self.recall_limit = recall_limit
        self.strict = strict
        self.breaker = breaker or CircuitBreaker()
        self.store_timeout = store_timeout
        self.stream_timeout = stream_timeout
        self.on_update = on_update
        self._credentials = credentials
        self._runtime = Runtime()
        self._sync_client: MemoireClient | None = None
        self._lock = threading.Lock()
        # Owned by the memory thread only:
        self._aclient: AsyncMemoireClient | None = None
        self._turns: set[_Turn] = set()
        self._last_turn: dict[str, _Turn] = {}
        self._warned_unobservable = False
        self._pid = os.getpid()
        atexit.register(_close_at_exit, weakref.ref(self))

    # --- public ----------------------------------------------------------------------------

    def wrap(self, client: C, user_id: str | None = None, *, session_id: str = "") -> C:
        """The client with memory: ``openai.OpenAI``/``AsyncOpenAI``, ``anthropic.Anthropic``/
        ``AsyncAnthropic``. The end user comes from each call (``user=`` for OpenAI,
        ``metadata={"user_id": ...}`` for Anthropic), else ``user_id``; without one a call
        runs without memory."""
        return wrap_client(self, client, user_id, session_id)

    @property
    def client(self) -> MemoireClient:
        """A blocking :class:`MemoireClient` with the same key and target, for direct calls."""
        with self._lock:
            if self._sync_client is None:
                self._sync_client = MemoireClient(
                    self.api_key, self.target, credentials=self._credentials
                )
            return self._sync_client

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every finished call's turn is stored; False if ``timeout`` ran out."""
        if not self._runtime.started:
            return True
        try:
            self._runtime.submit(self._flush()).result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Store what finished calls said (up to ``timeout``), then release the connection."""
        if self._runtime.started:
            self.flush(timeout)
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                self._runtime.submit(self._shutdown()).result(timeout)
            self._runtime.stop()
        with self._lock:
            if self._sync_client is not None:
                self._sync_client.close()
                self._sync_client = None

    # --- used by the wrapped clients ----------------------------------------------------------

    def begin(self, user_id: str | None, session_id: str, message: str | None) -> _Turn | None:
        """Open a turn if memory may be used for this call; None to go on without memory."""
        if not user_id or not message:
            return None
        if self._pid != os.getpid():  # forked: the parent's connection and turns are not ours
            self._pid = os.getpid()
            self._aclient = None
            self._turns = set()
            self._last_turn = {}
        if not self.strict and not self.breaker.allow():
            return None
        turn = _Turn(self, user_id, session_id, message)
        self._runtime.call_soon(turn.start_on_loop)
        return turn

    def context(self, turn: Turn) -> pb.TurnContext | None:
        """The turn's context within the recall budget, or None (the call goes on without it)."""
        try:
            context = turn.context.result(self.recall_budget)
        except (TimeoutError, MemoireError) as error:  # futures' TimeoutError is the builtin
            self._no_context(turn, error)
            return None
        self._succeeded()
        return context

    async def acontext(self, turn: Turn) -> pb.TurnContext | None:
        """:meth:`context` for asyncio callers."""
        # On timeout this cancels turn.context, which only the caller was waiting for.
        waiting = asyncio.wait_for(asyncio.wrap_future(turn.context), self.recall_budget)
        try:
            context = await waiting
        except (TimeoutError, MemoireError) as error:
            self._no_context(turn, error)
            return None
        self._succeeded()
        return context

    def stored(self, turn: Turn) -> None:
        """In strict mode, wait for the turn to be stored and raise if it was not."""
        if self.strict:
            with _store_deadline():
                turn.stored.result(self.store_timeout)

    async def astored(self, turn: Turn) -> None:
        """:meth:`stored` for asyncio callers."""
        if self.strict:
            with _store_deadline():
                await asyncio.wait_for(asyncio.wrap_future(turn.stored), self.store_timeout)

    def memory_failed(self, error: BaseException, what: str) -> None:
        """A failure of our own code around a call: log it once, raise it only when strict."""
        if self.strict:
            raise error
        if self.breaker.record_failure():
            log.warning("Mémoire: %s failed; calls go on without memory", what, exc_info=error)

    def warn_unobservable(self, what: str) -> None:
        if not self._warned_unobservable:
            self._warned_unobservable = True
            log.warning("Mémoire cannot follow %s; those replies are not stored", what)

    # --- outcomes ------------------------------------------------------------------------

    def _over_budget(self) -> MemoireError:
        return DeadlineExceeded(
            f"memory took longer than the recall budget of {self.recall_budget * 1000:.0f} ms"
        )

    def _no_context(self, turn: Turn, error: TimeoutError | MemoireError) -> None:
        if isinstance(error, TimeoutError):
            error = self._over_budget()
        # A slow service may still store the turn once the reply is in; a failed one cannot.
        if self.strict or not isinstance(error, DeadlineExceeded):
            turn.cancel()
        self._failed(error)
        if self.strict:
            raise error

    def _succeeded(self) -> None:
        if self.breaker.record_success():
            log.info("Mémoire is reachable again; calls use memory")

    def _failed(self, error: MemoireError) -> None:
        if self.breaker.record_failure() and not self.strict:  # strict callers get it raised
            log.warning(
                "Mémoire memory is unavailable (%s); calls go on without memory until it is back",
                error,
            )

    # --- on the memory thread ---------------------------------------------------------------

    def _async_client(self) -> AsyncMemoireClient:
        if self._aclient is None:
            self._aclient = AsyncMemoireClient(
                self.api_key, self.target, credentials=self._credentials
            )
        return self._aclient

    async def _flush(self) -> None:
        waiting = [t.done.wait() for t in self._turns if t.ended]
        if waiting:
            await asyncio.gather(*waiting)

    async def _shutdown(self) -> None:
        for turn in list(self._turns):
            turn.cancel_on_loop()
        if self._aclient is not None:
            await self._aclient.close()
            self._aclient = None


class _Close:
    """Put in a turn's outbox after its last request."""


_CLOSE = _Close()


class _Turn:
    """One LLM call's ObserveChat stream.

    Made on the caller's thread; its stream runs on the memory thread. The caller talks to
    it only through thread-safe calls (``delta``, ``end``, ``cancel``) and two
    ``concurrent.futures`` (``context`` and ``stored``).
    """

    def __init__(self, memoire: Memoire, user_id: str, session_id: str, message: str) -> None:
        self.memoire = memoire
        self.turn_id = uuid.uuid4().hex
        self.user_id = user_id
        self.session_id = session_id
        self.message = message
        self.context: concurrent.futures.Future[pb.TurnContext] = concurrent.futures.Future()
        self.stored: concurrent.futures.Future[pb.TurnStored] = concurrent.futures.Future()
        self.ended = False
        self._lock = threading.Lock()
        self._loop = memoire._runtime.loop
        # Memory-thread state, made in start_on_loop.
        self.done = asyncio.Event()
        self._outbox: asyncio.Queue[pb.ObserveChatRequest | _Close] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    # --- caller side (any thread) ------------------------------------------------------------

    def delta(self, text: str) -> None:
        """Forward part of the reply; never blocks."""
        if text and not self.ended and not self.done.is_set():
            request = pb.ObserveChatRequest(
                delta=pb.AssistantDelta(turn_id=self.turn_id, text=text)
            )
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, request)

    def end(self, reply: str | None = None, abandoned: bool = False) -> None:
        """Close the turn; ``reply`` replaces the deltas. Only the first end or cancel counts."""
        with self._lock:
            if self.ended:
                return
            self.ended = True
        request = pb.ObserveChatRequest(
            end=pb.TurnEnd(turn_id=self.turn_id, assistant_message=reply or "", abandoned=abandoned)
        )
        self._loop.call_soon_threadsafe(self._finish_on_loop, request)

    def cancel(self) -> None:
        """Drop the turn: nothing is stored unless some reply was already forwarded."""
        with self._lock:
            if self.ended:
                return
            self.ended = True
        self._loop.call_soon_threadsafe(self.cancel_on_loop)

    # --- memory thread --------------------------------------------------------------------

    def start_on_loop(self) -> None:
        self.memoire._turns.add(self)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="memoire-turn")

    def cancel_on_loop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _finish_on_loop(self, request: pb.ObserveChatRequest) -> None:
        self._outbox.put_nowait(request)
        self._outbox.put_nowait(_CLOSE)

    async def _run(self) -> None:
        memoire = self.memoire
        previous = memoire._last_turn.get(self.user_id)
        memoire._last_turn[self.user_id] = self
        stream: AsyncChatStream | None = None
        try:
            stream = memoire._async_client().observe_chat(timeout=memoire.stream_timeout)
            if previous is not None and previous.ended and not previous.done.is_set():
                # Read your writes: the previous turn of this user, already finished, is
                # stored before this one recalls (within the budget this call has anyway).
                await _wait(previous.done.wait(), memoire.recall_budget)
            await stream.write(self._start())
            reader = asyncio.create_task(self._read(stream))
            writer = asyncio.create_task(self._write(stream))
            try:
                done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()
                await reader
            finally:
                reader.cancel()
                writer.cancel()
        except asyncio.CancelledError:
            self._settle(Cancelled("the call ended before its turn was stored"))
        except MemoireError as error:
            self._fail(error)
        except Exception as error:  # grpc usage errors and the like: never the caller's problem
            self._fail(Unavailable(f"memory stream failed: {error!r}"))
        finally:
            if stream is not None:
                stream.cancel()
            self.done.set()
            memoire._turns.discard(self)
            if memoire._last_turn.get(self.user_id) is self:
                del memoire._last_turn[self.user_id]

    def _start(self) -> pb.ObserveChatRequest:
        return pb.ObserveChatRequest(
            start=pb.TurnStart(
                turn_id=self.turn_id,
                user_id=self.user_id,
                session_id=self.session_id,
                user_message=self.message,
                recall_limit=self.memoire.recall_limit,
            )
        )

    async def _write(self, stream: AsyncChatStream) -> None:
        pending: pb.ObserveChatRequest | _Close | None = None
        while True:
            item = pending if pending is not None else await self._outbox.get()
            pending = None
            if isinstance(item, _Close):
                break
            if item.HasField("delta"):
                # Deltas that queued up while the last write was in flight go as one.
                texts = [item.delta.text]
                while not self._outbox.empty():
                    queued = self._outbox.get_nowait()
                    if isinstance(queued, _Close) or not queued.HasField("delta"):
                        pending = queued
                        break
                    texts.append(queued.delta.text)
                item = _delta(self.turn_id, texts)
            await stream.write(item)
        await stream.done_writing()

    async def _read(self, stream: AsyncChatStream) -> None:
        while (response := await stream.read()) is not None:
            event = response.WhichOneof("event")
            if event == "context":
                _resolve(self.context, response.context)
            elif event == "stored":
                _resolve(self.stored, response.stored)
                if self.memoire.on_update is None:
                    return
            elif event == "update" and self.memoire.on_update is not None:
                try:
                    self.memoire.on_update(response.update)
                except Exception:
                    log.exception("Mémoire on_update callback failed")
        if not self.stored.done():
            raise Unavailable("the memory stream ended before the turn was stored")

    def _settle(self, error: MemoireError) -> None:
        for future in (self.context, self.stored):
            if not future.done():
                future.set_exception(error)

    def _fail(self, error: MemoireError) -> None:
        # A failure after the context arrived is the store's: the caller has moved on, so it
        # is counted here. Before that, the caller counts it (or its budget ran out).
        context = self.context
        context_ok = context.done() and not context.cancelled() and context.exception() is None
        self._settle(error)
        if context_ok:
            self.memoire._failed(error)


@contextlib.contextmanager
def _store_deadline() -> Iterator[None]:
    try:
        yield
    except TimeoutError:
        raise DeadlineExceeded("the turn was not stored in time") from None


def _delta(turn_id: str, texts: list[str]) -> pb.ObserveChatRequest:
    return pb.ObserveChatRequest(delta=pb.AssistantDelta(turn_id=turn_id, text="".join(texts)))


def _resolve(future: concurrent.futures.Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)


async def _wait(awaitable: Coroutine[Any, Any, Any], seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(awaitable, seconds)


def _budget_from_env() -> float:
    value = os.environ.get("MEMOIRE_RECALL_BUDGET_MS", "")
    try:
        return float(value) / 1000 if value else DEFAULT_RECALL_BUDGET
    except ValueError:
        log.warning("MEMOIRE_RECALL_BUDGET_MS=%r is not a number; using 150 ms", value)
        return DEFAULT_RECALL_BUDGET


def _close_at_exit(ref: weakref.ReferenceType[Memoire]) -> None:
    memoire = ref()
    if memoire is not None:
        memoire.close(timeout=2.0)

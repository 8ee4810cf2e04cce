"""ObserveChat: one bidirectional stream beside a streaming LLM call.

The client opens a turn with the user's message and gets the memory context back at once;
it forwards the assistant's reply as it streams and closes the turn; the server stores the
turn once (user message and reply in one ingest, one extraction) and later pushes what the
extraction changed. Requests are handled one at a time in stream order, so turns may be
interleaved freely and a turn stored on a stream is visible to every later turn's recall.

The caller is authenticated once, when the stream opens. Every stream end is clean: on
half-close pending updates are delivered first; on cancellation, deadline or server
shutdown the watchers stop. A turn left open when the stream ends is stored only if some
of its reply was seen, as if it had been abandoned.
"""

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc

from memoire_core import prompt
from memoire_core.domain import (
    JobState,
    MessageIn,
    Principal,
    RecallQuery,
    Role,
    Scope,
    UserRef,
)
from memoire_core.errors import NotFound, Violations
from memoire_core.services import ingest, memories, recall, updates
from memoire_core.services.access import owner_of, user_for_read, user_for_write
from memoire_core.validation import check_id, check_text, utf8_len
from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_server import convert
from memoire_server.context import AppContext
from memoire_server.errors import TRANSIENT, as_status

log = logging.getLogger(__name__)

Ctx = grpc.aio.ServicerContext[Any, Any]

# Watching an extraction: every POLL_SECONDS at first, then every SLOW_POLL_SECONDS, and an
# update with the last state seen once WATCH_SECONDS have passed without a final one.
POLL_SECONDS = 0.1
SLOW_POLL_SECONDS = 1.0
FAST_POLL_FOR_SECONDS = 10.0
WATCH_SECONDS = 120.0
# Storing turns left open by a stream that ended abruptly gets this long.
FLUSH_SECONDS = 10.0

# Work that outlives its stream (storing what a dropped stream saw) is kept referenced here.
_DETACHED: set[asyncio.Task[None]] = set()


async def observe_chat(
    app: AppContext, requests: AsyncIterator[pb.ObserveChatRequest], context: Ctx
) -> AsyncIterator[pb.ObserveChatResponse]:
    """The responses of one ObserveChat stream; every failure leaves as a proper status."""
    stream = _Stream(app, context)
    async for response in stream.run(requests):
        yield response


@dataclass
class _Turn:
    turn_id: str
    user_id: str
    session_id: str
    user_message: str
    said_at: datetime
    deltas: list[str] = field(default_factory=list)
    reply_bytes: int = 0


class _End:
    """Put on the output queue when the stream has nothing more to say."""


_END = _End()
_Item = pb.ObserveChatResponse | BaseException | _End


class _Stream:
    def __init__(self, app: AppContext, context: Ctx) -> None:
        self.app = app
        self.context = context
        self.limits = app.settings.limits
        self.principal: Principal | None = None
        self.open: dict[str, _Turn] = {}
        self.out: asyncio.Queue[_Item] = asyncio.Queue()
        self.reader: asyncio.Task[None] | None = None
        self.watchers: set[asyncio.Task[None]] = set()
        self.closed = False

    async def run(
        self, requests: AsyncIterator[pb.ObserveChatRequest]
    ) -> AsyncIterator[pb.ObserveChatResponse]:
        # Whatever ends the call (a finished generator, cancellation, deadline, shutdown),
        # the stream's own tasks end with it.
        self.context.add_done_callback(lambda _: self._close())  # type: ignore[arg-type]
        try:
            async with as_status(self.context, "ObserveChat"):
                async with self.app.unit_of_work(self.context) as (_, principal):
                    self.principal = principal
                self.reader = asyncio.create_task(self._read(requests), name="observe-chat-reader")
                while (response := _response_or_raise(await self.out.get())) is not None:
                    yield response
        finally:
            self._close()

    def _close(self) -> None:
        """Stop reading and watching; store what open turns saw. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        for task in (self.reader, *self.watchers):
            if task is not None:
                task.cancel()
        leftovers = [t for t in self.open.values() if t.deltas]
        self.open.clear()
        if leftovers and self.principal is not None:
            task = asyncio.get_running_loop().create_task(
                self._store_detached(leftovers), name="observe-chat-flush"
            )
            _DETACHED.add(task)
            task.add_done_callback(_DETACHED.discard)

    async def _store_detached(self, turns: list[_Turn]) -> None:
        try:
            async with asyncio.timeout(FLUSH_SECONDS):
                for turn in turns:
                    await self._store(turn, "".join(turn.deltas), abandoned=True)
        except Exception:
            log.warning("could not store turns left open by a closed stream", exc_info=True)

    # --- requests ------------------------------------------------------------------------

    async def _read(self, requests: AsyncIterator[pb.ObserveChatRequest]) -> None:
        try:
            async for request in requests:
                await self._handle(request)
            # Half-closed: turns left open are stored if their reply had begun, then the
            # stream ends once every announced extraction has been reported.
            for turn in list(self.open.values()):
                if turn.deltas:
                    await self._finish(turn, "".join(turn.deltas), abandoned=True)
            self.open.clear()
            while self.watchers:
                await asyncio.gather(*list(self.watchers), return_exceptions=True)
            self.out.put_nowait(_END)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.out.put_nowait(error)

    async def _handle(self, request: pb.ObserveChatRequest) -> None:
        event = request.WhichOneof("event")
        if event == "start":
            await self._start(request.start)
        elif event == "delta":
            self._delta(request.delta)
        elif event == "end":
            await self._end(request.end)
        else:
            v = Violations()
            v.add("event", "must be one of start, delta or end")
            v.raise_if_any()

    async def _start(self, start: pb.TurnStart) -> None:
        assert self.principal is not None
        v = Violations()
        check_id(v, "start.turn_id", start.turn_id, self.limits, required=True)
        if start.turn_id in self.open:
            v.add("start.turn_id", "names a turn already open on this stream")
        elif len(self.open) >= self.limits.open_turns:
            v.add(
                "start.turn_id",
                f"would open more than {self.limits.open_turns} turns on this stream",
            )
        if self.principal.scope is Scope.APP:
            check_id(v, "start.user_id", start.user_id, self.limits, required=True)
        check_id(v, "start.session_id", start.session_id, self.limits, required=False)
        check_text(v, "start.user_message", start.user_message, self.limits.content_bytes)
        if not 0 <= start.recall_limit <= self.limits.turn_recall_limit:
            v.add("start.recall_limit", f"must be between 0 and {self.limits.turn_recall_limit}")
        v.raise_if_any()
        turn = _Turn(
            turn_id=start.turn_id,
            user_id=start.user_id,
            session_id=start.session_id,
            user_message=start.user_message,
            said_at=convert.time_of(start, "create_time", "start.create_time") or datetime.now(UTC),
        )
        context = await self._context(
            turn, start.recall_limit or self.limits.default_turn_recall_limit
        )
        self.open[turn.turn_id] = turn
        self.out.put_nowait(pb.ObserveChatResponse(context=context))

    async def _context(self, turn: _Turn, limit: int) -> pb.TurnContext:
        assert self.principal is not None
        query = RecallQuery(text=_clip(turn.user_message, self.limits.query_bytes), limit=limit)
        # The caller is waiting: the query is embedded while the database is asked the rest.
        vector = asyncio.create_task(recall.embed_query(self.app.embedder, query.text))
        try:
            async with self.app.reader() as db:
                user = await user_for_read(db, self.principal, turn.user_id, self.limits)
                if user is None:
                    return pb.TurnContext(turn_id=turn.turn_id)
                conscious, _ = await memories.conscious(db, user, 0, self.limits)
                hits = await recall.recall(
                    db,
                    user,
                    query,
                    await vector,
                    self.app.embedder,
                    self.app.ranking,
                    self.app.corpus_stats,
                )
        finally:
            vector.cancel()
        return pb.TurnContext(
            turn_id=turn.turn_id,
            conscious=[convert.memory(m) for m in conscious],
            recalled=[convert.hit(h) for h in hits],
            prompt_block=prompt.render(conscious, [h.memory for h in hits]),
        )

    def _delta(self, delta: pb.AssistantDelta) -> None:
        v = Violations()
        turn = self.open.get(delta.turn_id)
        if turn is None:
            v.add("delta.turn_id", "names no open turn on this stream")
        else:
            size = utf8_len(delta.text)
            if turn.reply_bytes + size > self.limits.content_bytes:
                v.add(
                    "delta.text", f"makes the reply longer than {self.limits.content_bytes} bytes"
                )
            elif "\x00" in delta.text:
                v.add("delta.text", "must not contain NUL characters")
        v.raise_if_any()
        assert turn is not None
        turn.deltas.append(delta.text)
        turn.reply_bytes += size

    async def _end(self, end: pb.TurnEnd) -> None:
        v = Violations()
        turn = self.open.get(end.turn_id)
        if turn is None:
            v.add("end.turn_id", "names no open turn on this stream")
        if end.assistant_message:
            check_text(
                v,
                "end.assistant_message",
                end.assistant_message,
                self.limits.content_bytes,
                required=False,
            )
        v.raise_if_any()
        assert turn is not None
        reply = end.assistant_message or "".join(turn.deltas)
        await self._finish(turn, reply, abandoned=end.abandoned)

    # --- storing and watching -------------------------------------------------------------

    async def _finish(self, turn: _Turn, reply: str, *, abandoned: bool) -> None:
        """Store a closed turn, acknowledge it and watch its extraction."""
        user, message_ids, extraction_id = await self._store(turn, reply, abandoned=abandoned)
        self.open.pop(turn.turn_id, None)
        self.out.put_nowait(
            pb.ObserveChatResponse(
                stored=pb.TurnStored(
                    turn_id=turn.turn_id,
                    message_ids=convert.ids(message_ids),
                    extraction_id=str(extraction_id) if extraction_id else "",
                )
            )
        )
        if extraction_id is not None:
            task = asyncio.create_task(
                self._watch(turn.turn_id, user, extraction_id), name="observe-chat-watch"
            )
            self.watchers.add(task)
            task.add_done_callback(self.watchers.discard)

    async def _store(
        self, turn: _Turn, reply: str, *, abandoned: bool
    ) -> tuple[UserRef, list[uuid.UUID], uuid.UUID | None]:
        """One ingest of the user message and the reply; a re-sent turn stores nothing new."""
        assert self.principal is not None
        messages = [
            MessageIn(
                role=Role.USER,
                content=turn.user_message,
                client_message_id=_client_id(turn.turn_id, "user", self.limits.id_chars),
                said_at=turn.said_at,
            )
        ]
        if reply.strip():
            messages.append(
                MessageIn(
                    role=Role.ASSISTANT,
                    content=reply,
                    client_message_id=_client_id(turn.turn_id, "assistant", self.limits.id_chars),
                    said_at=max(datetime.now(UTC), turn.said_at),
                    metadata={"abandoned": "true"} if abandoned else {},
                )
            )
        command = ingest.validate_ingest(
            turn.session_id, messages, False, self.limits, Violations()
        )
        async with self.app.sessions() as db, db.begin():
            user = await user_for_write(db, self.principal, turn.user_id, self.limits)
            result = await ingest.ingest(
                db, user, command, extraction_enabled=bool(self.app.settings.llm_model)
            )
        return user, result.message_ids, result.extraction_id

    async def _watch(self, turn_id: str, user: UserRef, extraction_id: uuid.UUID) -> None:
        """Report the extraction once it is final, or its last state when the watch runs out."""
        assert self.principal is not None
        owner = owner_of(self.principal)
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen = updates.ExtractionUpdate(JobState.PENDING)
        state: memory_pb2.ExtractionState = memory_pb2.EXTRACTION_STATE_UNSPECIFIED
        warned = False
        while True:
            try:
                async with self.app.sessions() as db, db.begin():
                    seen = await updates.extraction_update(db, owner, user, extraction_id)
                state = convert.STATE_TO_PB[seen.state]
                if seen.final:
                    break
            except NotFound:
                # The user was forgotten meanwhile: nothing is left to report.
                seen = updates.ExtractionUpdate(JobState.PENDING)
                state = memory_pb2.EXTRACTION_STATE_UNSPECIFIED
                break
            except TRANSIENT:
                if not warned:
                    log.warning("cannot read extraction %s; retrying", extraction_id, exc_info=True)
                    warned = True
            except Exception:
                log.exception("watching extraction %s failed", extraction_id)
                break
            elapsed = loop.time() - started
            if elapsed >= WATCH_SECONDS:
                break
            await asyncio.sleep(
                POLL_SECONDS if elapsed < FAST_POLL_FOR_SECONDS else SLOW_POLL_SECONDS
            )
        self.out.put_nowait(
            pb.ObserveChatResponse(
                update=pb.MemoryUpdate(
                    turn_id=turn_id,
                    extraction_id=str(extraction_id),
                    events=[convert.event(e) for e in seen.events],
                    memories=[convert.memory(m) for m in seen.memories],
                    extraction_state=state,
                )
            )
        )


def _response_or_raise(item: _Item) -> pb.ObserveChatResponse | None:
    """The next response to send; None at the end; the reader's failure is raised here."""
    if isinstance(item, BaseException):
        raise item
    if isinstance(item, _End):
        return None
    return item


def _client_id(turn_id: str, role: str, max_chars: int) -> str:
    """The client message id of one side of a turn: stable, so a re-sent turn is a no-op."""
    plain = f"{turn_id}:{role}"
    if len(plain) <= max_chars:
        return plain
    return f"turn-{hashlib.sha256(turn_id.encode()).hexdigest()[:48]}:{role}"


def _clip(text: str, max_bytes: int) -> str:
    """At most ``max_bytes`` of UTF-8, cut on a character boundary."""
    data = text.encode("utf-8", errors="surrogatepass")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")

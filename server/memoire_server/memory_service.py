"""MemoryService: ingest, recall, conscious and memory management over gRPC."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.config import Limits
from memoire_core.db.repos.clauses import Owner
from memoire_core.db.repos.memories import ListFilter
from memoire_core.domain import RecallQuery
from memoire_core.errors import NotFound, Violations
from memoire_core.services import export, facts, ingest, memories, recall
from memoire_core.services.access import owner_of, user_for_read, user_for_write
from memoire_core.validation import check_limit, check_slot, check_text
from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_proto.v1 import memory_service_pb2_grpc
from memoire_server import convert, observe
from memoire_server.context import AppContext
from memoire_server.errors import mapped, mapped_stream
from memoire_server.limits import presented_key_in

Ctx = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


class MemoryService(memory_service_pb2_grpc.MemoryServiceServicer):
    """The memory API; each call is one transaction, committed before the reply."""

    def __init__(self, app: AppContext) -> None:
        self.app = app

    @property
    def limits(self) -> Limits:
        return self.app.settings.limits

    @mapped
    async def Ingest(self, request: pb.IngestRequest, context: Ctx) -> pb.IngestResponse:
        v = Violations()
        messages = convert.messages_in(request, v)
        command = ingest.validate_ingest(
            request.session_id, messages, request.skip_extraction, self.limits, v
        )
        async with self.app.unit_of_work(context) as (db, principal):
            user = await user_for_write(db, principal, request.user_id, self.limits)
            result = await ingest.ingest(
                db, user, command, extraction_enabled=bool(self.app.settings.llm_model)
            )
        return pb.IngestResponse(
            message_ids=convert.ids(result.message_ids),
            extraction_id=str(result.extraction_id) if result.extraction_id else "",
            extraction_state=convert.STATE_TO_PB[result.extraction_state]
            if result.extraction_state
            else None,
            duplicate_count=result.duplicate_count,
        )

    @mapped
    async def AddMemories(
        self, request: pb.AddMemoriesRequest, context: Ctx
    ) -> pb.AddMemoriesResponse:
        v = Violations()
        items = convert.facts_in(request, v, self.app.settings.direct_fact_confidence)
        facts.validate_facts(items, request.request_id, self.limits, v)
        async with self.app.unit_of_work(context) as (db, principal):
            user = await user_for_write(db, principal, request.user_id, self.limits)
            added = await facts.add_facts(db, user, items, self.app.registry, request.request_id)
        return pb.AddMemoriesResponse(
            memories=[convert.memory(m) for m in added.memories],
            results=[convert.fact_result(r) for r in added.results],
        )

    @mapped
    async def Recall(self, request: pb.RecallRequest, context: Ctx) -> pb.RecallResponse:
        query = recall.validate_recall(
            RecallQuery(
                text=request.query,
                limit=request.limit,
                kinds=convert.kinds_in(list(request.kinds), "kinds"),
                categories=frozenset(request.categories),
                current_only=request.current_view_only,
                as_of=convert.time_of(request, "as_of_time"),
                start=convert.time_of(request, "start_time"),
                end=convert.time_of(request, "end_time"),
                session_external_id=request.session_id or None,
            ),
            self.limits,
        )
        work = self.app.unit_of_work(context, read_only=True, user_id=request.user_id)
        async with work as (db, principal):
            user = await user_for_read(db, principal, request.user_id, self.limits)
        if user is None:
            return pb.RecallResponse()
        # Embedded only once the key is known good, so bad keys cost no model time, and with
        # no connection held, so the model never keeps one from other calls.
        vector = await recall.embed_query(self.app.embedder, query.text)
        async with self.app.reader() as db:
            hits = await recall.recall(
                db,
                user,
                query,
                vector,
                self.app.embedder,
                self.app.ranking,
                self.app.corpus_stats,
            )
        return pb.RecallResponse(hits=[convert.hit(h) for h in hits])

    @mapped
    async def Conscious(self, request: pb.ConsciousRequest, context: Ctx) -> pb.ConsciousResponse:
        v = Violations()
        check_limit(v, "limit", request.limit, self.limits.conscious_limit)
        v.raise_if_any()
        variant = str(request.limit)
        remembered = await self._remembered_conscious(context, request.user_id, variant)
        if remembered is not None:
            return remembered
        cache, version = self.app.conscious_cache, None
        # Read before the key is checked: a key revoked meanwhile moves it past this value.
        epoch = await cache.keys_epoch() if cache is not None else None
        work = self.app.unit_of_work(context, read_only=True, user_id=request.user_id)
        async with work as (db, principal):
            user = await user_for_read(db, principal, request.user_id, self.limits)
            if user is None:
                return pb.ConsciousResponse()
            if epoch is not None:
                presented = presented_key_in(context.invocation_metadata())
                self.app.callers.put(presented, request.user_id, principal, user, epoch)
            if cache is not None and (cached := await cache.lookup(user.id, variant)) is not None:
                version = cached.version
                if cached.answer is not None:
                    return pb.ConsciousResponse.FromString(cached.answer)
            found, block = await memories.conscious(db, user, request.limit, self.limits)
        reply = pb.ConsciousResponse(
            memories=[convert.memory(m) for m in found], prompt_block=block
        )
        if cache is not None and version is not None:
            await cache.put(user.id, version, variant, reply.SerializeToString())
        return reply

    async def _remembered_conscious(
        self, context: Ctx, named: str, variant: str
    ) -> pb.ConsciousResponse | None:
        """The cached answer for a caller whose key was checked moments ago, with no SQL;
        None to take the whole path (unknown caller, key change since, or no cached answer)."""
        cache = self.app.conscious_cache
        presented = presented_key_in(context.invocation_metadata())
        known = self.app.callers.get(presented, named) if cache and presented else None
        if cache is None or known is None:
            return None
        cached = await cache.lookup(known.user.id, variant)
        if cached is None or cached.answer is None or cached.keys_epoch != known.keys_epoch:
            return None
        return pb.ConsciousResponse.FromString(cached.answer)

    async def ObserveChat(
        self,
        request_iterator: AsyncIterator[pb.ObserveChatRequest],
        context: Ctx,
    ) -> AsyncIterator[pb.ObserveChatResponse]:
        async for response in observe.observe_chat(self.app, request_iterator, context):
            yield response

    @mapped
    async def ListMemories(
        self, request: pb.ListMemoriesRequest, context: Ctx
    ) -> pb.ListMemoriesResponse:
        v = Violations()
        check_limit(v, "page_size", request.page_size, self.limits.page_size)
        check_slot(v, "slot", request.slot, self.limits)
        check_text(v, "category", request.category, self.limits.category_bytes, required=False)
        kind = convert.KIND_FROM_PB.get(request.kind)
        if request.kind and kind is None:
            v.add("kind", "is not a known MemoryKind")
        v.raise_if_any()
        flt = ListFilter(
            kind=kind,
            category=request.category,
            slot=request.slot,
            current_only=request.current_view_only,
        )
        work = self.app.unit_of_work(context, read_only=True, user_id=request.user_id)
        async with work as (db, principal):
            user = await user_for_read(db, principal, request.user_id, self.limits)
            page = await memories.list_memories(
                db, user, flt, request.page_size, request.page_token, self.limits
            )
        return pb.ListMemoriesResponse(
            memories=[convert.memory(m) for m in page.memories], next_page_token=page.next_token
        )

    @mapped
    async def GetMemory(self, request: pb.GetMemoryRequest, context: Ctx) -> pb.GetMemoryResponse:
        view = await self._read_owned(context, "memory_id", request.memory_id, memories.get_memory)
        return pb.GetMemoryResponse(memory=convert.memory(view))

    @mapped
    async def DeleteMemory(
        self, request: pb.DeleteMemoryRequest, context: Ctx
    ) -> pb.DeleteMemoryResponse:
        _require_id("memory_id", request.memory_id, self.limits)
        async with self.app.unit_of_work(context) as (db, principal):
            deleted = await memories.delete_memory(
                db, owner_of(principal), request.memory_id, principal.key_id, self.app.registry
            )
        return pb.DeleteMemoryResponse(memory_id=deleted)

    @mapped
    async def GetMemoryHistory(
        self, request: pb.GetMemoryHistoryRequest, context: Ctx
    ) -> pb.GetMemoryHistoryResponse:
        _require_id("memory_id", request.memory_id, self.limits)
        v = Violations()
        check_limit(v, "page_size", request.page_size, self.limits.page_size)
        v.raise_if_any()
        async with self.app.unit_of_work(context, read_only=True) as (db, principal):
            events, token = await memories.history(
                db,
                owner_of(principal),
                request.memory_id,
                request.page_size,
                request.page_token,
                self.limits,
            )
        return pb.GetMemoryHistoryResponse(
            events=[convert.event(e) for e in events], next_page_token=token
        )

    @mapped
    async def GetExtraction(
        self, request: pb.GetExtractionRequest, context: Ctx
    ) -> pb.GetExtractionResponse:
        job = await self._read_owned(
            context, "extraction_id", request.extraction_id, memories.get_extraction
        )
        return pb.GetExtractionResponse(extraction=convert.extraction(job))

    @mapped
    async def ForgetUser(
        self, request: pb.ForgetUserRequest, context: Ctx
    ) -> pb.ForgetUserResponse:
        async with self.app.unit_of_work(context) as (db, principal):
            user = await user_for_read(db, principal, request.user_id, self.limits)
            n_messages, n_memories = await memories.forget_user(db, user)
        return pb.ForgetUserResponse(deleted_messages=n_messages, deleted_memories=n_memories)

    async def _read_owned(
        self,
        context: Ctx,
        path: str,
        named: str,
        read: Callable[[AsyncSession, Owner, str], Awaitable[T]],
    ) -> T:
        """Read one thing the caller's app (or user) owns, named by the id at ``path``."""
        _require_id(path, named, self.limits)
        async with self.app.unit_of_work(context, read_only=True) as (db, principal):
            return await read(db, owner_of(principal), named)

    @mapped_stream
    async def ExportUser(
        self, request: pb.ExportUserRequest, context: Ctx
    ) -> AsyncIterator[pb.ExportUserResponse]:
        async with self.app.unit_of_work(context, read_only=True) as (db, principal):
            user = await user_for_read(db, principal, request.user_id, self.limits)
        if user is None:
            raise NotFound(f"user {request.user_id!r} not found", reason="USER_NOT_FOUND")
        async for item in export.export_user(self.app.sessions, user):
            yield convert.export_item(item)


def _require_id(path: str, value: str, limits: Limits) -> None:
    v = Violations()
    if not value:
        v.add(path, "is required")
    elif len(value) > limits.id_chars:
        v.add(path, f"is longer than {limits.id_chars} characters")
    v.raise_if_any()

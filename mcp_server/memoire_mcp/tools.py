"""The memory tools an agent calls, each one gRPC call made with the caller's API key."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from memoire import calls
from memoire.errors import MemoireError
from pydantic import Field

from memoire_mcp.backend import Backend
from memoire_mcp.shapes import (
    KINDS,
    Conscious,
    Event,
    FactInput,
    Forgotten,
    History,
    Hit,
    Kind,
    Memory,
    Recalled,
    Remembered,
    enum_word,
)
from memoire_proto.v1 import memory_pb2


@dataclass(frozen=True)
class Link:
    """What every tool call shares: the backend, and the key a stdio server was launched with
    (None over HTTP, where each request brings its own)."""

    backend: Backend
    api_key: str | None


Ctx = Context[Link, Any]

UserId = Annotated[
    str,
    Field(
        description="The app's id for the user, e.g. user-123. May be left empty with a key "
        "scoped to one user, which only ever acts for that user."
    ),
]


def key_of(headers: Any, fallback: str | None) -> str:
    """The API key a request carries (``x-api-key`` or ``Authorization: Bearer``), else the
    launch key; empty when there is none, which the server refuses as UNAUTHENTICATED."""
    if headers is not None:
        if key := headers.get("x-api-key", ""):
            return str(key)
        scheme, _, token = str(headers.get("authorization", "")).partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return fallback or ""


def _call(ctx: Ctx) -> tuple[Backend, str]:
    link = ctx.request_context.lifespan_context
    return link.backend, key_of(ctx.headers, link.api_key)


def describe(error: MemoireError) -> str:
    """The text of a tool error: the gRPC code, the server's reason and every bad field."""
    text = str(error)  # "PERMISSION_DENIED (USER_SCOPE_MISMATCH): ..."
    for violation in error.field_violations:
        text += f"\n- {violation.field}: {violation.description}"
    if error.retry_delay is not None:
        text += f"\nRetry after {error.retry_delay:g} s."
    return text


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn a failed gRPC call into an MCP tool error (``isError``) naming the server's reason,
    so the agent reads why (USER_SCOPE_MISMATCH, MEMORY_NOT_FOUND...) instead of a crash."""
    try:
        yield
    except MemoireError as error:
        raise ToolError(describe(error)) from error


async def remember(
    ctx: Ctx,
    user_id: UserId = "",
    message: Annotated[
        str | None,
        Field(
            description="Something the user said, stored verbatim and recallable at once; "
            "Mémoire distils facts from it in the background when an LLM is configured."
        ),
    ] = None,
    fact: Annotated[
        FactInput | None,
        Field(
            description="A structured fact written directly. Give a slot to keep it true as "
            "life changes: a new value of a single-valued slot supersedes the old one."
        ),
    ] = None,
    session_id: Annotated[
        str, Field(description="The conversation the message belongs to; empty for default.")
    ] = "",
    role: Annotated[
        Literal["user", "assistant"], Field(description="Who said the message.")
    ] = "user",
) -> Remembered:
    """Remember something about the user: either a `message` they said, or a structured `fact`
    (exactly one of the two). Facts in a slot supersede the slot's old value ("lives in
    Dallas" retires "lives in San Francisco"), and restating a fact refreshes it."""
    if (message is None) == (fact is None):
        raise ToolError("give exactly one of `message` or `fact`")
    backend, key = _call(ctx)
    with tool_errors():
        if fact is not None:
            return await _remember_fact(backend, key, user_id, fact)
        assert message is not None
        return await _remember_message(backend, key, user_id, message, session_id, role)


async def _remember_fact(backend: Backend, key: str, user_id: str, fact: FactInput) -> Remembered:
    reply = await backend.call(key, calls.add_memories(user_id, [fact.to_proto()]))
    result = reply.results[0]
    held = next((m for m in reply.memories if m.id == result.memory_id), None)
    return Remembered(
        stored="fact",
        outcome=enum_word(memory_pb2.FactOutcome.Name(result.outcome), "FACT_OUTCOME_"),
        reason=result.reason,
        memory=Memory.of(held) if held is not None else None,
    )


async def _remember_message(
    backend: Backend, key: str, user_id: str, message: str, session_id: str, role: str
) -> Remembered:
    said = {"role": role, "content": message}
    reply = await backend.call(key, calls.ingest(user_id, [said], session_id=session_id))
    state = memory_pb2.ExtractionState.Name(reply.extraction_state)
    return Remembered(
        stored="message",
        outcome="duplicate" if reply.duplicate_count else enum_word(state, "EXTRACTION_STATE_"),
        message_id=reply.message_ids[0] if reply.message_ids else "",
        extraction_id=reply.extraction_id,
    )


async def recall(
    ctx: Ctx,
    query: Annotated[str, Field(description="What to remember, in natural language.")],
    user_id: UserId = "",
    limit: Annotated[int, Field(ge=1, le=100, description="How many memories, best first.")] = 10,
    current_only: Annotated[
        bool,
        Field(description="Only what holds now: no superseded, past, planned or retracted facts."),
    ] = False,
    categories: Annotated[
        list[str], Field(description='Only these fact categories, e.g. ["location"].')
    ] = [],  # noqa: B006 - pydantic copies defaults; the schema shows the empty list
    kinds: Annotated[
        list[Kind],
        Field(description="Only facts (distilled statements) or episodes (stored messages)."),
    ] = [],  # noqa: B006
    as_of: Annotated[
        datetime | None,
        Field(description="What was true at this time (ISO 8601), instead of now."),
    ] = None,
    session_id: Annotated[str, Field(description="Only memories of this conversation.")] = "",
) -> Recalled:
    """Recall what Mémoire knows about the user that bears on `query`: facts and past messages,
    best first, each with its id (for `history` or `forget_memory`) and whether it holds now."""
    backend, key = _call(ctx)
    call = calls.recall(
        user_id,
        query,
        limit=limit,
        kinds=[KINDS[k] for k in kinds],
        categories=categories,
        current_view_only=current_only,
        as_of=as_of,
        session_id=session_id,
    )
    with tool_errors():
        reply = await backend.call(key, call)
    return Recalled(
        hits=[Hit(memory=Memory.of(h.memory), score=round(h.score.final, 4)) for h in reply.hits]
    )


async def conscious(
    ctx: Ctx,
    user_id: UserId = "",
    limit: Annotated[int, Field(ge=0, le=100, description="How many facts; 0 means 20.")] = 0,
) -> Conscious:
    """The user's essentials (identity, lasting preferences, current home, plans) as a block
    ready for a system prompt: call it at the start of a conversation."""
    backend, key = _call(ctx)
    with tool_errors():
        reply = await backend.call(key, calls.conscious(user_id, limit=limit))
    return Conscious(
        prompt_block=reply.prompt_block, memories=[Memory.of(m) for m in reply.memories]
    )


async def history(
    ctx: Ctx,
    memory_id: Annotated[str, Field(description="The id of a memory, from recall.")],
    page_token: Annotated[
        str, Field(description="next_page_token of the previous answer; empty at first.")
    ] = "",
) -> History:
    """Why a memory is believed, or no longer is: when it was learned, refreshed, superseded
    (and by what), decayed, promoted, retracted or restored, oldest first."""
    backend, key = _call(ctx)
    with tool_errors():
        reply = await backend.call(key, calls.get_memory_history(memory_id, page_token=page_token))
    return History(
        events=[Event.of(e) for e in reply.events], next_page_token=reply.next_page_token
    )


async def forget_memory(
    ctx: Ctx,
    memory_id: Annotated[str, Field(description="The id of the memory to delete.")],
) -> Forgotten:
    """Delete a memory that is wrong. This is a correction: whatever the deleted fact alone had
    superseded holds again, and the deletion stays in the memory's history."""
    backend, key = _call(ctx)
    with tool_errors():
        reply = await backend.call(key, calls.delete_memory(memory_id))
    return Forgotten(memory_id=reply.memory_id)

"""The MCP server: memory tools and resources over stdio or Streamable HTTP."""

import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, ToolAnnotations
from memoire import calls
from memoire.errors import MemoireError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from memoire_mcp import tools
from memoire_mcp.backend import Backend
from memoire_mcp.shapes import Memory
from memoire_mcp.tools import Ctx, Link, describe, key_of
from memoire_proto.v1 import memory_pb2

INSTRUCTIONS = """\
Mémoire is this user's long-term memory. At the start of a conversation call `conscious` for \
the user's essentials. Before answering anything that depends on the user (where they live, \
who they work for, what they like), call `recall`. When the user tells you something lasting \
about themselves, call `remember`, with a structured `fact` in a slot (location.home, \
employer, relationship.partner, preference.<topic>) when you can, so newer values supersede \
older ones. `history` explains why a fact is believed; `forget_memory` deletes a wrong one."""

MAX_FACTS = 2_000  # a resource is read whole: beyond this, page with the recall tool instead
PAGE = 500
# Failures the caller can fix (a wrong id, key or argument), as opposed to server trouble.
CALLER_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.FAILED_PRECONDITION,
    }
)


def _resource_error(error: MemoireError) -> MCPError:
    """A failed read as a JSON-RPC error whose data carries the server's code and reason."""
    code = INVALID_PARAMS if error.code in CALLER_CODES else INTERNAL_ERROR
    data = {"code": error.code.name, "reason": error.reason}
    return MCPError(code=code, message=describe(error), data=data)


async def current_facts(user_id: str, ctx: Ctx) -> str:
    """The facts that hold now for the user, as JSON: a list of memories, newest first."""
    link = ctx.request_context.lifespan_context
    key = key_of(ctx.headers, link.api_key)
    facts: list[dict[str, Any]] = []
    token = ""
    try:
        while len(facts) < MAX_FACTS:
            call = calls.list_memories(
                user_id,
                kind=memory_pb2.MEMORY_KIND_FACT,
                current_view_only=True,
                page_size=PAGE,
                page_token=token,
            )
            page = await link.backend.call(key, call)
            facts += [Memory.of(m).model_dump(mode="json") for m in page.memories]
            token = page.next_page_token
            if not token:
                break
    except MemoireError as error:
        raise _resource_error(error) from error
    return json.dumps({"user_id": user_id, "facts": facts[:MAX_FACTS]}, ensure_ascii=False)


async def conscious_block(user_id: str, ctx: Ctx) -> str:
    """The user's essentials as the prompt block Conscious renders."""
    link = ctx.request_context.lifespan_context
    key = key_of(ctx.headers, link.api_key)
    try:
        reply = await link.backend.call(key, calls.conscious(user_id))
    except MemoireError as error:
        raise _resource_error(error) from error
    return reply.prompt_block


def build_server(backend: Backend, api_key: str | None) -> MCPServer[Link]:
    """The MCP server over ``backend``. ``api_key`` is the key every call acts with on stdio;
    None over HTTP, where each request's own ``x-api-key`` or bearer token is used."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[Link]) -> AsyncIterator[Link]:
        async with backend:
            yield Link(backend, api_key)

    server: MCPServer[Link] = MCPServer(
        "memoire",
        title="Mémoire",
        description="Long-term memory for AI agents: remember and recall facts about a user.",
        instructions=INSTRUCTIONS,
        version="0.1.0",
        lifespan=lifespan,
    )
    write = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
    read = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    server.add_tool(tools.remember, title="Remember", annotations=write)
    server.add_tool(tools.recall, title="Recall", annotations=read)
    server.add_tool(tools.conscious, title="Essentials", annotations=read)
    server.add_tool(tools.history, title="Why is this believed", annotations=read)
    server.add_tool(
        tools.forget_memory,
        title="Forget a memory",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True),
    )
    server.resource(
        "memoire://users/{user_id}/facts",
        name="current-facts",
        title="Current facts",
        mime_type="application/json",
    )(current_facts)
    server.resource(
        "memoire://users/{user_id}/conscious",
        name="essentials",
        title="Essentials (prompt block)",
        mime_type="text/plain",
    )(conscious_block)
    return server


async def serve_stdio(backend: Backend, api_key: str) -> None:
    """Serve one agent on stdin/stdout, every call acting with ``api_key``."""
    await build_server(backend, api_key).run_stdio_async()


class RequireApiKey:
    """Answers 401 to an HTTP request that carries no API key, before any MCP work; the key
    itself is checked by the gRPC server on each call, as for any other client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not key_of(Headers(scope=scope), None):
            body = {
                "error": "send an API key in x-api-key or authorization: Bearer",
                "reason": "API_KEY_INVALID",
            }
            headers = {"www-authenticate": 'Bearer realm="memoire"'}
            await JSONResponse(body, status_code=401, headers=headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def http_app(backend: Backend, host: str = "127.0.0.1") -> ASGIApp:
    """The Streamable HTTP app (at ``/mcp``), each request acting with its own API key."""
    app = build_server(backend, None).streamable_http_app(host=host)
    return RequireApiKey(app)


async def serve_http(backend: Backend, host: str, port: int) -> None:
    """Serve remote agents over Streamable HTTP until cancelled; port 0 picks a free port, and
    the address is printed on stderr once listening."""
    import uvicorn  # noqa: PLC0415 - only the HTTP transport needs it

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections wait in the backlog until uvicorn has started
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(http_app(backend, host), log_level="warning", lifespan="on")
    print(f"MCP over HTTP: http://{shown}:{bound}/mcp", file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])

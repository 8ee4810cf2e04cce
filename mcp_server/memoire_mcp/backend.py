"""The gRPC API behind the MCP tools: one channel, the caller's API key on every call."""

from typing import TypeVar

import grpc
from google.protobuf.message import Message
from memoire.calls import Call
from memoire.transport import NO_RETRY, AsyncTransport, Settings

DEFAULT_TIMEOUT = 10.0
USER_AGENT = "memoire-mcp/0.1.0"

Resp = TypeVar("Resp", bound=Message)


class Backend:
    """MemoryService as the MCP tools call it, through the SDK's calls (:mod:`memoire.calls`).

    Each call names the API key it acts with, so one channel serves every HTTP caller, and a
    failure raises the SDK's :class:`memoire.MemoireError` with the server's reason; nothing
    is retried, since the agent decides what to do about a failure. Open it with
    ``async with`` inside the event loop that serves the tools (grpc.aio channels belong to
    one loop).
    """

    def __init__(
        self,
        target: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._credentials = credentials
        self._transport: AsyncTransport | None = None

    async def __aenter__(self) -> "Backend":
        options = [("grpc.primary_user_agent", USER_AGENT)]
        settings = Settings(self.target, self._credentials, options, self.timeout, NO_RETRY)
        self._transport = AsyncTransport(settings)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._transport is not None:
            await self._transport.close()
        self._transport = None

    async def call(self, key: str, call: Call[Resp]) -> Resp:
        """The reply to ``call``, made with the API key ``key``."""
        if self._transport is None:
            raise RuntimeError("Backend is not open")
        return await self._transport.unary(call, (("x-api-key", key),))

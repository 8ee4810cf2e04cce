"""The gRPC API behind the MCP tools: one channel, the caller's API key on every call."""

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import grpc
import grpc.aio
from memoire.errors import from_rpc_error

from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_proto.v1 import memory_service_pb2_grpc as pb_grpc

DEFAULT_TIMEOUT = 10.0
USER_AGENT = "memoire-mcp/0.1.0"

Resp = TypeVar("Resp")


class Backend:
    """MemoryService as the MCP tools call it.

    Each call names the API key it acts with, so one channel serves every HTTP caller, and a
    failure raises the SDK's :class:`memoire.MemoireError` with the server's reason. Open it
    with ``async with`` inside the event loop that serves the tools (grpc.aio channels belong
    to one loop).
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
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None

    async def __aenter__(self) -> "Backend":
        options = [("grpc.primary_user_agent", USER_AGENT)]
        if self._credentials is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=options)
        else:
            self._channel = grpc.aio.secure_channel(self.target, self._credentials, options)
        self._stub = pb_grpc.MemoryServiceStub(self._channel)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._channel is not None:
            await self._channel.close(None)
        self._channel = self._stub = None

    async def _call(self, name: str, request: object, key: str, reply: type[Resp]) -> Resp:
        if self._stub is None:
            raise RuntimeError("Backend is not open")
        method: Callable[..., Awaitable[object]] = getattr(self._stub, name)
        try:
            response = await method(request, metadata=(("x-api-key", key),), timeout=self.timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        if not isinstance(response, reply):  # the generated stubs are untyped
            raise TypeError(f"{name} answered {type(response).__name__}")
        return response

    async def ingest(self, key: str, request: pb.IngestRequest) -> pb.IngestResponse:
        """Store messages verbatim and queue their extraction."""
        return await self._call("Ingest", request, key, pb.IngestResponse)

    async def add_memories(
        self, key: str, request: pb.AddMemoriesRequest
    ) -> pb.AddMemoriesResponse:
        """Write structured facts, with slot supersession."""
        return await self._call("AddMemories", request, key, pb.AddMemoriesResponse)

    async def recall(self, key: str, request: pb.RecallRequest) -> pb.RecallResponse:
        """The memories most relevant to a query, best first."""
        return await self._call("Recall", request, key, pb.RecallResponse)

    async def conscious(self, key: str, request: pb.ConsciousRequest) -> pb.ConsciousResponse:
        """The user's essentials and the prompt block built from them."""
        return await self._call("Conscious", request, key, pb.ConsciousResponse)

    async def list_memories(
        self, key: str, request: pb.ListMemoriesRequest
    ) -> pb.ListMemoriesResponse:
        """One page of the user's memories, newest first."""
        return await self._call("ListMemories", request, key, pb.ListMemoriesResponse)

    async def history(
        self, key: str, request: pb.GetMemoryHistoryRequest
    ) -> pb.GetMemoryHistoryResponse:
        """The events that explain a memory, oldest first."""
        return await self._call("GetMemoryHistory", request, key, pb.GetMemoryHistoryResponse)

    async def delete_memory(
        self, key: str, request: pb.DeleteMemoryRequest
    ) -> pb.DeleteMemoryResponse:
        """Delete one memory as a correction."""
        return await self._call("DeleteMemory", request, key, pb.DeleteMemoryResponse)

"""Requests whose bytes are not the message they claim to be: INVALID_ARGUMENT, not UNKNOWN.

grpc answers a request its deserializer cannot parse with UNKNOWN and the parser's class
name. A client of another language (or gRPC-web) that sends invalid UTF-8 in a string field
meets exactly that, so the parse is done here, and a failure becomes a proper status.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError

from memoire_core.errors import FieldViolation, InvalidArgument
from memoire_server.errors import abort, status_for

Ctx = grpc.aio.ServicerContext[Any, Any]

if TYPE_CHECKING:
    Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # generic only in the stubs
    Interceptor = grpc.aio.ServerInterceptor


@dataclass(frozen=True)
class _Malformed:
    reason: str


def _tolerant(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError as error:
            return _Malformed(str(error) or "not a valid protobuf message")

    return deserialize


async def _refuse(context: Ctx, request: _Malformed) -> None:
    violation = FieldViolation("request", f"is not a valid message: {request.reason[:200]}")
    await abort(context, status_for(InvalidArgument([violation])))


class MalformedRequestInterceptor(Interceptor):
    """Parses unary requests itself and refuses the ones that do not parse."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        # The stubs describe the sync handler types; under grpc.aio the behaviours are async.
        handler: Any = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler  # type: ignore[no-any-return]
        parse = _tolerant(handler.request_deserializer)
        if inspect.iscoroutinefunction(handler.unary_unary):
            inner = handler.unary_unary

            async def unary(request: Any, context: Ctx) -> Any:
                if isinstance(request, _Malformed):
                    await _refuse(context, request)
                return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(unary, parse, handler.response_serializer)
        if inspect.isasyncgenfunction(handler.unary_stream):
            inner_stream = handler.unary_stream

            async def unary_stream(request: Any, context: Ctx) -> AsyncIterator[Any]:
                if isinstance(request, _Malformed):
                    await _refuse(context, request)
                async for item in inner_stream(request, context):
                    yield item

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, parse, handler.response_serializer
            )
        return handler  # type: ignore[no-any-return]  # a sync or request-streaming handler

"""A check run before a grpc.aio handler's behaviour, for interceptors that may refuse calls."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import grpc

Ctx = grpc.aio.ServicerContext[Any, Any]
# Awaited with the request (or, for a request stream, the iterator); refuses by aborting.
Check = Callable[[Any, Ctx], Awaitable[None]]

if TYPE_CHECKING:
    Interceptor = grpc.aio.ServerInterceptor[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
else:  # generic only in the stubs
    Interceptor = grpc.aio.ServerInterceptor
    Handler = grpc.RpcMethodHandler

# What an interceptor's intercept_service is given to reach the handler of a call.
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler]]


def guarded(
    handler: Handler, check: Check, deserializer: Callable[[bytes], Any] | None = None
) -> Handler:
    """The same handler with ``check`` awaited before its behaviour, and optionally another
    request deserializer. Sync behaviours and client-streaming ones (none of ours) are
    returned as they are."""
    # The stubs describe the sync handler types; under grpc.aio the behaviours are async.
    h = cast(Any, handler)
    deserialize = deserializer or h.request_deserializer
    if inspect.iscoroutinefunction(h.unary_unary):
        single = h.unary_unary

        async def unary(request: Any, context: Ctx) -> Any:
            await check(request, context)
            return await single(request, context)

        return grpc.unary_unary_rpc_method_handler(unary, deserialize, h.response_serializer)
    make: Any
    if inspect.isasyncgenfunction(h.unary_stream):
        make, streaming = grpc.unary_stream_rpc_method_handler, h.unary_stream
    elif inspect.isasyncgenfunction(h.stream_stream):
        make, streaming = grpc.stream_stream_rpc_method_handler, h.stream_stream
    else:
        return handler

    async def stream(request: Any, context: Ctx) -> AsyncIterator[Any]:
        await check(request, context)
        async for item in streaming(request, context):
            yield item

    return cast(Handler, make(stream, deserialize, h.response_serializer))


class Guard(Interceptor):
    """An interceptor that may refuse calls: it wraps the handlers it has a check for."""

    def __init__(self) -> None:
        # Per method, the handler last given and what guard() made of it: built once, not per
        # call (the same handler comes back every time; another one is guarded afresh).
        self._guarded: dict[str, tuple[Handler, Handler]] = {}

    def guard(self, handler: Handler, method: str) -> Handler:
        """The handler to run for ``method``: ``handler`` itself, or ``guarded`` around it."""
        raise NotImplementedError

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None:  # an unknown method: gRPC answers UNIMPLEMENTED itself
            return handler
        method = handler_call_details.method
        known = self._guarded.get(method)
        if known is None or known[0] is not handler:
            known = (handler, self.guard(handler, method))
            self._guarded[method] = known
        return known[1]

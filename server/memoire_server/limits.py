"""Admission before any handler runs: rate limits per API key and the failed-auth guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from memoire_core.errors import MemoireError
from memoire_proto.v1 import account_service_pb2, memory_service_pb2
from memoire_server.errors import abort, status_for
from memoire_server.guard import Interceptor, guarded
from memoire_server.ratelimit import MethodClass, RateLimiter

Ctx = grpc.aio.ServicerContext[Any, Any]

_READS = {
    "Recall",
    "Conscious",
    "ListMemories",
    "GetMemory",
    "GetMemoryHistory",
    "GetExtraction",
    "ExportUser",
}
_STREAMS = {"ObserveChat"}


def _classes() -> dict[str, MethodClass]:
    """Every method of the Mémoire services by its full path; health and reflection are free."""
    found: dict[str, MethodClass] = {}
    for module, name in (
        (memory_service_pb2, "MemoryService"),
        (account_service_pb2, "AccountService"),
    ):
        service = module.DESCRIPTOR.services_by_name[name]
        for method in service.methods:
            path = f"/{service.full_name}/{method.name}"
            if method.name in _STREAMS:
                found[path] = MethodClass.STREAM
            elif method.name in _READS:
                found[path] = MethodClass.READ
            else:
                found[path] = MethodClass.WRITE
    return found


METHOD_CLASSES = _classes()


def presented_key_in(metadata: Any) -> str:
    """The API key from ``x-api-key`` or ``authorization: Bearer``; empty when none came."""
    for key, value in metadata or ():
        text = value.decode() if isinstance(value, bytes) else value
        if key == "x-api-key":
            return str(text).strip()
        if key == "authorization" and str(text).lower().startswith("bearer "):
            return str(text)[7:].strip()
    return ""


def client_address(context: Ctx, trust_forwarded_for: bool) -> str:
    """The caller's address without its port: the first x-forwarded-for hop when trusted."""
    if trust_forwarded_for:
        for key, value in context.invocation_metadata() or ():
            if key == "x-forwarded-for":
                text = value.decode() if isinstance(value, bytes) else value
                first = str(text).split(",")[0].strip()
                if first:
                    return first
    peer = context.peer() or "unknown"
    kind, _, rest = peer.partition(":")
    if kind in {"ipv4", "ipv6"}:
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer


class AdmissionInterceptor(Interceptor):
    """Refuses a call over its key's rate, or from an address that keeps failing to sign in."""

    def __init__(self, limiter: RateLimiter, trust_forwarded_for: bool) -> None:
        self.limiter = limiter
        self.trust_forwarded_for = trust_forwarded_for

    async def _admit(self, method_class: MethodClass, context: Ctx) -> None:
        try:
            await self.limiter.admit(
                method_class,
                presented_key_in(context.invocation_metadata()),
                client_address(context, self.trust_forwarded_for),
            )
        except MemoireError as error:
            await abort(context, status_for(error))

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method_class = METHOD_CLASSES.get(handler_call_details.method)
        if handler is None or method_class is None:
            return handler

        async def admit(_: Any, context: Ctx) -> None:
            await self._admit(method_class, context)

        return guarded(handler, admit)

"""What the server tells about itself: metrics per RPC, a request id per call, traces.

One interceptor sees every call, unary and streaming: it counts it by method and status
code, times it, takes the caller's ``x-request-id`` (Envoy sets one) or makes one, binds it
for the call's log lines and the tasks the call queues, and answers it back in the initial
metadata (the response headers), beside any the handler sends itself. When an OTLP endpoint
is configured each call is also a span.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from prometheus_client import Counter, Histogram

from memoire_adapters import tracing
from memoire_adapters.logs import REQUEST_ID_HEADER, accept_request_id, request_id
from memoire_adapters.metrics import MetricsEndpoint, serve_metrics
from memoire_adapters.tracing import Tracing
from memoire_core.config import Settings
from memoire_proto.v1 import account_service_pb2, memory_service_pb2
from memoire_server.guard import Continuation, Handler, Interceptor

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)

Ctx = grpc.aio.ServicerContext[Any, Any]

# Milliseconds for most calls, seconds for a slow Recall; a stream's lifetime lands in +Inf.
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "memoire_rpc_requests", "RPCs handled, by method and gRPC status code.", ["method", "code"]
)
DURATION = Histogram(
    "memoire_rpc_duration_seconds",
    "Time from the start of an RPC to its status, by method.",
    ["method"],
    buckets=RPC_BUCKETS,
)

# Codes that mean the server failed, as opposed to the caller asking for something wrong.
SERVER_ERRORS = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
OTHER = "other"


def _known_methods() -> dict[str, str]:
    """Full method path (``/memoire.v1.MemoryService/Ingest``) -> the short label ``Ingest``."""
    services = (
        memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"],
        account_service_pb2.DESCRIPTOR.services_by_name["AccountService"],
        health_pb2.DESCRIPTOR.services_by_name["Health"],
        reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"],
    )
    return {f"/{s.full_name}/{m.name}": m.name for s in services for m in s.methods}


METHODS = _known_methods()
# Probes and tooling: their calls are logged at DEBUG, not once per probe at INFO.
QUIET = {"Check", "List", "Watch", "ServerReflectionInfo"}


def method_label(path: str) -> str:
    """The short name of a known RPC; every other path is ``other``, so labels stay few."""
    return METHODS.get(path, OTHER)


def _metadata_value(metadata: Any, key: str) -> str | None:
    for name, value in metadata or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


@dataclass
class _Call:
    """One RPC being observed."""

    path: str
    method: str
    request_id: str
    metadata: dict[str, str]
    tracer: Tracer | None

    @asynccontextmanager
    async def observed(self, context: Ctx, *, stream: bool = False) -> AsyncIterator[_Answering]:
        """Time the call and record its status however it ends: returned, aborted, cancelled.

        Yields the context to hand to the handler, which adds the request id to the headers.
        """
        started = time.perf_counter()
        code: grpc.StatusCode | None = None
        with tracing.current_span(
            self.tracer,
            self.path.lstrip("/") if self.method != OTHER else OTHER,
            kind="server",
            carrier=self.metadata,
            attributes={
                "rpc.system": "grpc",
                "rpc.method": self.method,
                "memoire.request_id": self.request_id,
            },
        ) as span:
            answering = _Answering(context, self.request_id, stream=stream)
            try:
                yield answering
                await answering.headers_sent()
            except grpc.aio.AbortError:
                raise  # the status is already on the context
            except Exception:
                code = grpc.StatusCode.UNKNOWN
                raise
            except BaseException:  # cancelled: the caller left or its deadline passed
                code = _cancelled_code(context)
                raise
            finally:
                code = code or context.code() or grpc.StatusCode.OK
                self._record(code, time.perf_counter() - started)
                tracing.end_attributes(
                    span, {"rpc.grpc.status_code": code.value[0]}, error=code in SERVER_ERRORS
                )

    def _record(self, code: grpc.StatusCode, seconds: float) -> None:
        REQUESTS.labels(self.method, code.name).inc()
        DURATION.labels(self.method).observe(seconds)
        level = logging.DEBUG if self.method in QUIET else logging.INFO
        log.log(
            level,
            "%s %s in %.1f ms",
            self.method,
            code.name,
            seconds * 1000,
            extra={"rpc": self.method, "code": code.name, "duration_ms": round(seconds * 1000, 1)},
        )


def _cancelled_code(context: Ctx) -> grpc.StatusCode:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


Behaviour = Callable[[Any, Ctx], Any]


class _Answering:
    """The call's context as its handler sees it: the response headers carry the request id.

    The id joins whatever initial metadata the handler sends (a ``retry-after``, say), or
    goes alone before the first response or the status. Everything else is the real context.
    """

    def __init__(self, context: Ctx, request_id: str, *, stream: bool = False) -> None:
        self._context = context
        self._request_id = request_id
        self._stream = stream
        self._sent = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def send_initial_metadata(self, initial_metadata: Any) -> None:
        self._sent = True
        await self._context.send_initial_metadata(
            (*initial_metadata, (REQUEST_ID_HEADER, self._request_id))
        )

    async def headers_sent(self) -> None:
        """Send the headers now unless they are already on their way."""
        if not self._sent:
            await self.send_initial_metadata(())

    async def write(self, message: Any) -> None:
        await self.headers_sent()
        await self._context.write(message)

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()
    ) -> None:
        if self._stream and not self._sent:
            # A stream failing before its first item is a trailers-only reply, the id in its
            # trailers: headers sent first would make Envoy's transcoder commit to HTTP 200.
            self._sent = True
            trailing_metadata = (*trailing_metadata, (REQUEST_ID_HEADER, self._request_id))
        else:
            with suppress(Exception):  # the caller may be gone; the status still has to be set
                await self.headers_sent()
        await self._context.abort(code, details, trailing_metadata)


def _observe_single(call: _Call, inner: Callable[[Any, Any], Awaitable[Any]]) -> Behaviour:
    async def behaviour(request: Any, context: Ctx) -> Any:
        async with call.observed(context) as answering:
            return await inner(request, answering)

    return behaviour


def _observe_stream(call: _Call, inner: Callable[[Any, Any], AsyncIterator[Any]]) -> Behaviour:
    async def behaviour(request: Any, context: Ctx) -> AsyncIterator[Any]:
        async with call.observed(context, stream=True) as answering:
            async for response in inner(request, answering):
                await answering.headers_sent()
                yield response

    return behaviour


def _observed(handler: grpc.RpcMethodHandler[Any, Any], call: _Call) -> Any:
    """The same handler with its behaviour wrapped in ``call.observed``.

    A synchronous handler (none of ours) is passed through as it is, unobserved.
    """
    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    make: Any
    inner: Any  # the stubs type behaviours as synchronous; ours are coroutines or generators
    if handler.unary_unary is not None:
        make, inner = grpc.unary_unary_rpc_method_handler, handler.unary_unary
    elif handler.stream_unary is not None:
        make, inner = grpc.stream_unary_rpc_method_handler, handler.stream_unary
    elif handler.unary_stream is not None:
        make, inner = grpc.unary_stream_rpc_method_handler, handler.unary_stream
    else:
        make, inner = grpc.stream_stream_rpc_method_handler, handler.stream_stream
    # A streaming behaviour is an async generator, or a coroutine that calls context.write();
    # grpc.aio tells them apart by their kind, so the wrapper keeps the kind it wraps.
    if handler.response_streaming and inspect.isasyncgenfunction(inner):
        return make(_observe_stream(call, inner), **codec)
    if inspect.iscoroutinefunction(inner):
        return make(_observe_single(call, inner), **codec)
    return handler


class TelemetryInterceptor(Interceptor):
    """Counts, times, traces and logs every call under the request id it binds."""

    def __init__(self, tracer: Tracer | None = None) -> None:
        self._tracer = tracer

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        metadata = handler_call_details.invocation_metadata
        rid = accept_request_id(_metadata_value(metadata, REQUEST_ID_HEADER))
        # grpc.aio runs each call in a fresh context shared with its handler: no reset needed.
        request_id.set(rid)
        handler = await continuation(handler_call_details)
        path = handler_call_details.method
        if handler is None:  # grpc answers UNIMPLEMENTED
            REQUESTS.labels(OTHER, grpc.StatusCode.UNIMPLEMENTED.name).inc()
            return handler
        carrier = {
            str(k): v for k, v in metadata or () if isinstance(v, str) and not k.endswith("-bin")
        }
        call = _Call(path, method_label(path), rid, carrier, self._tracer)
        observed: grpc.RpcMethodHandler[Any, Any] = _observed(handler, call)
        return observed


@dataclass
class Telemetry:
    """The server's metrics endpoint and tracer, started with it and closed when it stops."""

    metrics: MetricsEndpoint | None = None
    tracing: Tracing | None = None

    def interceptors(self) -> list[Interceptor]:
        """The interceptors to put first on the server, so they see every call."""
        return [TelemetryInterceptor(self.tracing.tracer if self.tracing else None)]

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
        if self.tracing is not None:
            self.tracing.shutdown()


def start_telemetry(settings: Settings) -> Telemetry:
    """Serve /metrics on ``metrics_port`` (when set) and export traces (when configured)."""
    telemetry = Telemetry(tracing=tracing.start_tracing(settings, "memoire-server"))
    if settings.metrics_port:
        try:
            telemetry.metrics = serve_metrics(settings.metrics_host, settings.metrics_port)
        except BaseException:
            telemetry.close()
            raise
        log.info(
            "Prometheus metrics on http://%s:%d/metrics",
            settings.metrics_host,
            telemetry.metrics.port,
        )
    return telemetry

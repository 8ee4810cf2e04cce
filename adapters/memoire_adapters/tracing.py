"""Optional OpenTelemetry traces, exported over OTLP/HTTP when ``otel_endpoint`` is set.

OpenTelemetry is the optional extra ``otel`` and is imported only when tracing is on, so a
process without an endpoint never loads it. Trace context crosses process boundaries as W3C
``traceparent`` headers: gRPC metadata into the server, task headers into the worker.
"""

import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from memoire_core.config import Settings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

MISSING_EXTRA = (
    "MEMOIRE_OTEL_ENDPOINT is set but OpenTelemetry is not installed; "
    "install the 'otel' extra (pip install 'memoire-server[otel]') or unset it"
)
TRACES_PATH = "/v1/traces"


class TracingUnavailable(RuntimeError):
    """Tracing was asked for, but the ``otel`` extra is not installed."""


@dataclass
class Tracing:
    """A tracer of one service and the provider that exports its spans."""

    tracer: "Tracer"
    provider: "TracerProvider"

    def shutdown(self) -> None:
        """Export what is buffered, then stop exporting."""
        self.provider.shutdown()


def traces_url(endpoint: str) -> str:
    """The collector's trace URL: ``endpoint`` itself when it names the path, else the path."""
    trimmed = endpoint.rstrip("/")
    return trimmed if trimmed.endswith(TRACES_PATH) else trimmed + TRACES_PATH


def start_tracing(
    settings: Settings, service_name: str, *, schedule_delay_millis: float = 1000
) -> Tracing | None:
    """Export this service's spans to the configured collector; None when tracing is off."""
    if not settings.otel_endpoint:
        return None
    try:
        # Imported here: the extra is optional and loaded only for a configured endpoint.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    except ImportError as error:
        raise TracingUnavailable(MISSING_EXTRA) from error
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter = OTLPSpanExporter(endpoint=traces_url(settings.otel_endpoint), timeout=10)
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=schedule_delay_millis)
    )
    return Tracing(provider.get_tracer("memoire"), provider)


def _loaded() -> bool:
    # Without OpenTelemetry in the process no span can be current: nothing to propagate.
    return "opentelemetry.propagate" in sys.modules


def inject(carrier: MutableMapping[str, str]) -> None:
    """Add the current trace context (``traceparent``) to outgoing headers, if any."""
    if _loaded():
        from opentelemetry import propagate  # noqa: PLC0415

        propagate.inject(carrier)


def extract(carrier: Mapping[str, Any]) -> "Context":
    """The trace context incoming headers carry (an empty one when they carry none)."""
    from opentelemetry import propagate  # noqa: PLC0415

    return propagate.extract({k: v for k, v in carrier.items() if isinstance(v, str)})


def current_ids() -> tuple[str, str] | None:
    """The current trace and span ids in hex, for log lines; None outside any span."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace  # noqa: PLC0415

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


@contextmanager
def current_span(
    tracer: "Tracer | None",
    name: str,
    *,
    kind: Literal["server", "consumer"],
    carrier: Mapping[str, Any],
    attributes: Mapping[str, str | int],
) -> Iterator["Span | None"]:
    """A span, current inside the block, continuing the trace the carrier's headers name.

    Yields None when tracing is off. The caller decides what counts as an error (an expected
    INVALID_ARGUMENT is not one), so exceptions leave the span's status alone.
    """
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    with tracer.start_as_current_span(
        name,
        context=extract(carrier),
        kind=SpanKind.SERVER if kind == "server" else SpanKind.CONSUMER,
        attributes=dict(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def end_attributes(
    span: "Span | None", attributes: Mapping[str, str | int], *, error: bool
) -> None:
    """Record what is known only at the end of the work, and mark a failure as an error."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415

    span.set_attributes(dict(attributes))
    if error:
        span.set_status(Status(StatusCode.ERROR))

"""Prometheus metrics shared by the server and the workers, in the process-wide registry.

Labels take values from small fixed sets or from settings (the model name), never from a
request: no user, memory or session id ever becomes a label.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
)

# From a fraction of a second (the server's own embedder) to minutes (a backlog).
DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

CONSCIOUS_CACHE = Counter(
    "memoire_conscious_cache_requests",
    "Conscious answers looked up in the cache, by result (hit or miss).",
    ["result"],
)

INGEST_TO_SEARCHABLE = Histogram(
    "memoire_ingest_to_searchable_seconds",
    "Time from a memory's creation to its vector being stored (vector recall finds it).",
    buckets=DELAY_BUCKETS,
)
INGEST_TO_FACTS = Histogram(
    "memoire_ingest_to_facts_seconds",
    "Time from an extraction job's creation (its ingest) to its facts being stored.",
    buckets=DELAY_BUCKETS,
)

LLM_TOKENS = Counter(
    "memoire_llm_tokens",
    "Tokens the LLM provider billed, by model and kind (prompt or completion).",
    ["model", "kind"],
)
LLM_COST = Counter(
    "memoire_llm_cost_usd",
    "Estimated cost of LLM calls in US dollars (LiteLLM's price table; unknown models add 0).",
    ["model"],
)
LLM_CALLS = Counter(
    "memoire_llm_calls",
    "LLM calls by model and outcome (ok, transient or permanent failure).",
    ["model", "outcome"],
)
LLM_DURATION = Histogram(
    "memoire_llm_duration_seconds",
    "Duration of LLM calls, by model.",
    ["model"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0),
)


@dataclass
class MetricsEndpoint:
    """An HTTP server, on a thread of its own, that answers Prometheus scrapes."""

    server: WSGIServer
    thread: Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def serve_metrics(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> MetricsEndpoint:
    """Answer scrapes of the process's metrics at ``http://host:port/metrics``."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsEndpoint(server, thread)


class PrometheusMetrics:
    """The ``Metrics`` of ``memoire_core.ports``: what committed work reports, as histograms."""

    def vectors_stored(self, delays_seconds: Sequence[float]) -> None:
        for delay in delays_seconds:
            INGEST_TO_SEARCHABLE.observe(delay)

    def facts_stored(self, delay_seconds: float) -> None:
        INGEST_TO_FACTS.observe(delay_seconds)

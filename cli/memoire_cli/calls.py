"""One-shot gRPC calls for the CLI, printed as JSON."""

import grpc
from google.protobuf import json_format
from memoire.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc

ROLES = {"user": memory_pb2.ROLE_USER, "assistant": memory_pb2.ROLE_ASSISTANT}


def _stub(target: str) -> tuple[grpc.Channel, memory_service_pb2_grpc.MemoryServiceStub]:
    channel = grpc.insecure_channel(target)
    return channel, memory_service_pb2_grpc.MemoryServiceStub(channel)


def _show(message: object) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True)  # type: ignore[arg-type]


def ingest(target: str, key: str, user_id: str, session: str, role: str, content: str) -> str:
    """Store one message; returns the reply as JSON."""
    channel, stub = _stub(target)
    with channel:
        reply = stub.Ingest(
            memory_service_pb2.IngestRequest(
                user_id=user_id,
                session_id=session,
                messages=[memory_service_pb2.MessageInput(role=ROLES[role], content=content)],
            ),
            metadata=(("x-api-key", key),),
            timeout=10,
        )
    return _show(reply)


def recall(target: str, key: str, user_id: str, query: str, limit: int) -> str:
    """Recall memories; returns the reply as JSON."""
    channel, stub = _stub(target)
    with channel:
        reply = stub.Recall(
            memory_service_pb2.RecallRequest(user_id=user_id, query=query, limit=limit),
            metadata=(("x-api-key", key),),
            timeout=10,
        )
    return _show(reply)

"""One-shot gRPC calls for the CLI, printed as JSON, and what their failures tell a person."""

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from memoire_cli.failures import EXIT_FAILED, EXIT_KEY_REFUSED, EXIT_UNREACHABLE, Failure
from memoire_proto.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc

ROLES = {"user": memory_pb2.ROLE_USER, "assistant": memory_pb2.ROLE_ASSISTANT}
# Where `memoire up` leaves the address of the gRPC server it started, in its data directory.
TARGET_FILE = "grpc_target"

R = TypeVar("R", bound=Message)


def default_target(data_dir: Path, grpc_host: str, grpc_port: int) -> str:
    """The server `memoire up` announced in ``data_dir``, else the configured host and port."""
    announced = data_dir / TARGET_FILE
    if announced.exists():
        return announced.read_text().strip()
    return local_target(grpc_host, grpc_port)


def local_target(grpc_host: str, grpc_port: int) -> str:
    """Where a client on this machine reaches a server bound to ``grpc_host:grpc_port``."""
    wildcard = grpc_host in ("", "0.0.0.0", "::", "[::]")  # noqa: S104 - an address, not a bind
    return f"{'127.0.0.1' if wildcard else grpc_host}:{grpc_port}"


def explain(error: grpc.RpcError, target: str) -> Failure:
    """What a person should read when a call fails, and the exit code for scripts."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (error.details() if isinstance(error, grpc.Call) else "") or str(code)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Failure(
            f"cannot reach the Mémoire server at {target} ({details}): start it with `make run` "
            "(or `memoire up`), or point --target / MEMOIRE_TARGET at a running one",
            EXIT_UNREACHABLE,
        )
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return Failure(
            f"the server at {target} refused the API key ({details}): pass the key `memoire up` "
            "printed (or an app key) with --api-key or MEMOIRE_API_KEY",
            EXIT_KEY_REFUSED,
        )
    return Failure(f"the call failed: {code.name}: {details}", EXIT_FAILED)


def _call(target: str, send: Callable[[memory_service_pb2_grpc.MemoryServiceStub], R]) -> str:
    """Run ``send`` on a fresh channel; the reply as JSON, or :class:`Failure`."""
    with grpc.insecure_channel(target) as channel:
        try:
            reply = send(memory_service_pb2_grpc.MemoryServiceStub(channel))
        except grpc.RpcError as error:
            raise explain(error, target) from None
    return json_format.MessageToJson(reply, preserving_proto_field_name=True)


def ingest(target: str, key: str, user_id: str, session: str, role: str, content: str) -> str:
    """Store one message; returns the reply as JSON."""
    request = memory_service_pb2.IngestRequest(
        user_id=user_id,
        session_id=session,
        messages=[memory_service_pb2.MessageInput(role=ROLES[role], content=content)],
    )
    return _call(
        target, lambda stub: stub.Ingest(request, metadata=(("x-api-key", key),), timeout=10)
    )


def recall(target: str, key: str, user_id: str, query: str, limit: int) -> str:
    """Recall memories; returns the reply as JSON."""
    request = memory_service_pb2.RecallRequest(user_id=user_id, query=query, limit=limit)
    return _call(
        target, lambda stub: stub.Recall(request, metadata=(("x-api-key", key),), timeout=10)
    )

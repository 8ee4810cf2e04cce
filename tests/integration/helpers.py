"""Small helpers shared by integration tests: building requests and reading errors."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from memoire.v1 import memory_pb2
from memoire.v1 import memory_service_pb2 as pb

T = TypeVar("T")


@dataclass
class Failure:
    """What a failed call told the caller."""

    code: grpc.StatusCode
    message: str
    reason: str
    fields: list[str]


def failure(call: Callable[[], Any]) -> Failure:
    """Run a call that must fail and return its status, reason and bad fields."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error: Any = caught.value  # a grpc.Call as well as an RpcError
    status = rpc_status.from_call(error)
    reason, fields = "", []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return Failure(error.code(), error.details() or "", reason, fields)


def user_message(content: str, client_id: str = "", **kwargs: Any) -> pb.MessageInput:
    return pb.MessageInput(
        role=memory_pb2.ROLE_USER, content=content, client_message_id=client_id, **kwargs
    )


def ingest(api: Any, user: str, *contents: str, session: str = "") -> Any:
    return api.memory.Ingest(
        pb.IngestRequest(
            user_id=user, session_id=session, messages=[user_message(c) for c in contents]
        )
    )


def eventually(probe: Callable[[], T | None], timeout: float = 15.0) -> T:
    """Poll until ``probe`` returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout}s; last value {last!r}")

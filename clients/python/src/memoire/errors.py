"""Typed exceptions for every failed call, carrying the server's reason and bad fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

__all__ = [
    "AlreadyExists",
    "Cancelled",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "MemoireError",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request, as the server named it (``messages[0].content``)."""

    field: str
    description: str


class MemoireError(Exception):
    """Any failure of a Mémoire call.

    ``code`` is the gRPC status, ``reason`` the server's stable UPPER_SNAKE reason
    (``API_KEY_REVOKED``, ``MEMORY_NOT_FOUND``...), ``field_violations`` the bad fields of an
    INVALID_ARGUMENT, and ``retry_delay`` the wait the server asked for, in seconds, if any.
    """

    default_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        field_violations: tuple[FieldViolation, ...] | list[FieldViolation] = (),
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.reason = reason or self.code.name
        self.field_violations = list(field_violations)
        self.retry_delay = retry_delay

    def __str__(self) -> str:
        if self.reason == self.code.name:
            return f"{self.code.name}: {self.message}"
        return f"{self.code.name} ({self.reason}): {self.message}"


class Cancelled(MemoireError):
    """The call was cancelled, usually by the caller."""

    default_code = grpc.StatusCode.CANCELLED


class InvalidArgument(MemoireError):
    """The request is malformed; ``field_violations`` names each bad field."""

    default_code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(MemoireError):
    """The call did not finish within its deadline."""

    default_code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(MemoireError):
    """The thing does not exist, or belongs to someone the key cannot see."""

    default_code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(MemoireError):
    """A create collided with an existing, different resource."""

    default_code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(MemoireError):
    """The key is valid but may not do this."""

    default_code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(MemoireError):
    """A rate or size limit was hit; ``retry_delay`` says when to try again, if known."""

    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(MemoireError):
    """The system is not in a state that allows the operation."""

    default_code = grpc.StatusCode.FAILED_PRECONDITION


class Unimplemented(MemoireError):
    """The server does not offer this call."""

    default_code = grpc.StatusCode.UNIMPLEMENTED


class Internal(MemoireError):
    """The server failed unexpectedly; it has logged the cause."""

    default_code = grpc.StatusCode.INTERNAL


class Unavailable(MemoireError):
    """The service cannot be reached right now; retrying later may work."""

    default_code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(MemoireError):
    """No valid API key came with the request (missing, unknown, revoked or expired)."""

    default_code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: dict[grpc.StatusCode, type[MemoireError]] = {
    cls.default_code: cls
    for cls in (
        Cancelled,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Unimplemented,
        Internal,
        Unavailable,
        Unauthenticated,
    )
}


def from_rpc_error(error: grpc.RpcError) -> MemoireError:
    """The typed exception for a failed call, with the details of grpc-status-details-bin."""
    call: Any = error  # a grpc.Call (sync) or grpc.aio.AioRpcError: both have code/details
    code: grpc.StatusCode = call.code() if hasattr(call, "code") else grpc.StatusCode.UNKNOWN
    message = (call.details() if hasattr(call, "details") else None) or str(error)
    reason = ""
    violations: list[FieldViolation] = []
    retry_delay: float | None = None
    try:
        status = rpc_status.from_call(call) if hasattr(call, "trailing_metadata") else None
    except (ValueError, TypeError):  # details that disagree with the status: keep the status
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_delay = retry.retry_delay.ToTimedelta().total_seconds()
    cls = _BY_CODE.get(code, MemoireError)
    return cls(
        message, code=code, reason=reason, field_violations=violations, retry_delay=retry_delay
    )

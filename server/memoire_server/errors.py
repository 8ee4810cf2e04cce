"""One table from core exceptions to gRPC status codes, with rich error details."""

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

import grpc
import sqlalchemy.exc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from memoire_core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    MemoireError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

DOMAIN = "memoire.dev"

CODES: dict[type[MemoireError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}

# Failures of the database connection: the call may succeed if retried.
TRANSIENT: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    ConnectionError,
    OSError,
)


def status_for(error: MemoireError) -> status_pb2.Status:
    """The google.rpc.Status of an expected failure: code, message, ErrorInfo, BadRequest."""
    code = CODES.get(type(error)) or next(
        (c for cls, c in CODES.items() if isinstance(error, cls)), grpc.StatusCode.UNKNOWN
    )
    details = [error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)]
    if isinstance(error, InvalidArgument):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return status_pb2.Status(code=code.value[0], message=error.message, details=packed)


async def abort(context: grpc.aio.ServicerContext[Any, Any], status: status_pb2.Status) -> NoReturn:
    """End the call with a rich status (details travel in grpc-status-details-bin)."""
    converted = rpc_status.to_status(status)
    await context.abort(converted.code, converted.details, converted.trailing_metadata)
    raise AssertionError("unreachable: abort raises")


def _internal() -> status_pb2.Status:
    holder = any_pb2.Any()
    holder.Pack(error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN))
    return status_pb2.Status(
        code=code_pb2.INTERNAL, message="internal error; it has been logged", details=[holder]
    )


def _unavailable() -> status_pb2.Status:
    return status_for(Unavailable("storage is unreachable; retry with backoff"))


R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[R]]


def mapped(method: Handler[R]) -> Handler[R]:
    """Wrap a unary handler so every failure leaves as a proper status; never a stack trace."""

    @wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> R:
        try:
            return await method(self, request, context)
        except MemoireError as error:
            await abort(context, status_for(error))
        except grpc.aio.AbortError:
            raise
        except TRANSIENT:
            log.warning("storage unavailable during %s", method.__name__, exc_info=True)
            await abort(context, _unavailable())
        except Exception:
            log.exception("unexpected failure in %s", method.__name__)
            await abort(context, _internal())

    return wrapper

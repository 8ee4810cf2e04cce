"""Requests whose bytes are not the message they claim to be: INVALID_ARGUMENT, not UNKNOWN.

grpc answers a request its deserializer cannot parse with UNKNOWN and the parser's class
name. A client of another language (or gRPC-web) that sends invalid UTF-8 in a string field
meets exactly that, so the parse is done here, and a failure becomes a proper status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from memoire_core.errors import FieldViolation, InvalidArgument
from memoire_server.errors import abort, status_for
from memoire_server.guard import Guard, Handler, guarded

Ctx = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class _Malformed:
    reason: str


def _tolerant(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError as error:
            return _Malformed(str(error) or "not a valid protobuf message")

    return deserialize


async def _refuse_malformed(request: Any, context: Ctx) -> None:
    if isinstance(request, _Malformed):
        violation = FieldViolation("request", f"is not a valid message: {request.reason[:200]}")
        await abort(context, status_for(InvalidArgument([violation])))


class MalformedRequestInterceptor(Guard):
    """Parses single requests itself and refuses the ones that do not parse."""

    def guard(self, handler: Handler, method: str) -> Handler:
        if handler.request_streaming or handler.request_deserializer is None:
            return handler
        return guarded(handler, _refuse_malformed, _tolerant(handler.request_deserializer))

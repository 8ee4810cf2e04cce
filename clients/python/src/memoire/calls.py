"""Every RPC of both services as a :class:`Call`: its request built once, its reply type, and
whether repeating it is safe.

Each function here is one method of :class:`~memoire.MemoireClient` and
:class:`~memoire.AsyncMemoireClient` (same name, parameters and docstring): the clients only
send what it returns. ``timeout`` is the call's deadline in seconds, None for the client's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from memoire_proto.v1 import account_pb2, memory_pb2
from memoire_proto.v1 import account_service_pb2 as apb
from memoire_proto.v1 import memory_service_pb2 as pb

__all__ = ["OBSERVE_CHAT", "Call", "FactLike", "MessageLike", "timestamp"]

Resp = TypeVar("Resp", bound=Message)

# A message to ingest: the protobuf, or a mapping such as {"role": "user", "content": "..."}
# with optional client_message_id, create_time (a datetime) and metadata.
MessageLike = pb.MessageInput | Mapping[str, Any]
# A fact to write: the protobuf, or just its statement.
FactLike = pb.FactInput | str

_ROLES: dict[str, memory_pb2.Role] = {
    "user": memory_pb2.ROLE_USER,
    "assistant": memory_pb2.ROLE_ASSISTANT,
    "system": memory_pb2.ROLE_SYSTEM,
    "tool": memory_pb2.ROLE_TOOL,
}

_MEMORY = f"/{pb.DESCRIPTOR.services_by_name['MemoryService'].full_name}/"
_ACCOUNTS = f"/{apb.DESCRIPTOR.services_by_name['AccountService'].full_name}/"
OBSERVE_CHAT = _MEMORY + "ObserveChat"


@dataclass(frozen=True, slots=True)
class Call(Generic[Resp]):
    """One RPC ready to send: the method's path, the request, the reply's type (which parses
    it), whether it may be repeated after a failure, and its own deadline, if any."""

    method: str
    request: Message
    reply: type[Resp]
    retry: bool
    timeout: float | None = None


def timestamp(value: datetime | None) -> Timestamp | None:
    """A protobuf timestamp for an optional datetime (a naive one is taken as UTC)."""
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value)
    return out


def _message(item: MessageLike) -> pb.MessageInput:
    if isinstance(item, pb.MessageInput):
        return item
    role = item.get("role", "user")
    return pb.MessageInput(
        role=_ROLES[role] if isinstance(role, str) else role,
        content=item["content"],
        client_message_id=item.get("client_message_id", ""),
        create_time=timestamp(item.get("create_time")),
        metadata=item.get("metadata") or {},
    )


def _fact(item: FactLike) -> pb.FactInput:
    return pb.FactInput(content=item) if isinstance(item, str) else item


# --- MemoryService ---------------------------------------------------------------------------


def ingest(
    user_id: str,
    messages: Iterable[MessageLike],
    *,
    session_id: str = "",
    skip_extraction: bool = False,
    timeout: float | None = None,
) -> Call[pb.IngestResponse]:
    """Store messages verbatim; retried only when every message has a client_message_id."""
    request = pb.IngestRequest(
        user_id=user_id,
        session_id=session_id,
        messages=[_message(m) for m in messages],
        skip_extraction=skip_extraction,
    )
    # Re-sending messages that all carry client ids is a no-op, so it may be retried.
    safe = all(m.client_message_id for m in request.messages)
    return Call(_MEMORY + "Ingest", request, pb.IngestResponse, safe, timeout)


def add_memories(
    user_id: str,
    facts: Iterable[FactLike],
    *,
    request_id: str = "",
    timeout: float | None = None,
) -> Call[pb.AddMemoriesResponse]:
    """Write facts directly; retried only with a ``request_id``."""
    request = pb.AddMemoriesRequest(
        user_id=user_id, facts=[_fact(f) for f in facts], request_id=request_id
    )
    return Call(_MEMORY + "AddMemories", request, pb.AddMemoriesResponse, bool(request_id), timeout)


def recall(
    user_id: str,
    query: str,
    *,
    limit: int = 0,
    kinds: Iterable[memory_pb2.MemoryKind] = (),
    categories: Iterable[str] = (),
    current_view_only: bool = False,
    as_of: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    session_id: str = "",
    timeout: float | None = None,
) -> Call[pb.RecallResponse]:
    """The memories most relevant to ``query``, best first."""
    request = pb.RecallRequest(
        user_id=user_id,
        query=query,
        limit=limit,
        kinds=list(kinds),
        categories=list(categories),
        current_view_only=current_view_only,
        as_of_time=timestamp(as_of),
        start_time=timestamp(start),
        end_time=timestamp(end),
        session_id=session_id,
    )
    return Call(_MEMORY + "Recall", request, pb.RecallResponse, True, timeout)


def conscious(
    user_id: str = "", *, limit: int = 0, timeout: float | None = None
) -> Call[pb.ConsciousResponse]:
    """The user's essential facts and a prompt block built from them."""
    request = pb.ConsciousRequest(user_id=user_id, limit=limit)
    return Call(_MEMORY + "Conscious", request, pb.ConsciousResponse, True, timeout)


def list_memories(
    user_id: str = "",
    *,
    page_size: int = 0,
    page_token: str = "",
    kind: memory_pb2.MemoryKind = memory_pb2.MEMORY_KIND_UNSPECIFIED,
    category: str = "",
    slot: str = "",
    current_view_only: bool = False,
    timeout: float | None = None,
) -> Call[pb.ListMemoriesResponse]:
    """One page of the user's memories, newest first."""
    request = pb.ListMemoriesRequest(
        user_id=user_id,
        page_size=page_size,
        page_token=page_token,
        kind=kind,
        category=category,
        slot=slot,
        current_view_only=current_view_only,
    )
    return Call(_MEMORY + "ListMemories", request, pb.ListMemoriesResponse, True, timeout)


def get_memory(memory_id: str, *, timeout: float | None = None) -> Call[pb.GetMemoryResponse]:
    """One memory by id."""
    request = pb.GetMemoryRequest(memory_id=memory_id)
    return Call(_MEMORY + "GetMemory", request, pb.GetMemoryResponse, True, timeout)


def delete_memory(memory_id: str, *, timeout: float | None = None) -> Call[pb.DeleteMemoryResponse]:
    """Delete one memory; its history records the deletion."""
    request = pb.DeleteMemoryRequest(memory_id=memory_id)
    return Call(_MEMORY + "DeleteMemory", request, pb.DeleteMemoryResponse, True, timeout)


def get_memory_history(
    memory_id: str,
    *,
    page_size: int = 0,
    page_token: str = "",
    timeout: float | None = None,
) -> Call[pb.GetMemoryHistoryResponse]:
    """The events that explain a memory, oldest first."""
    request = pb.GetMemoryHistoryRequest(
        memory_id=memory_id, page_size=page_size, page_token=page_token
    )
    return Call(_MEMORY + "GetMemoryHistory", request, pb.GetMemoryHistoryResponse, True, timeout)


def get_extraction(
    extraction_id: str, *, timeout: float | None = None
) -> Call[pb.GetExtractionResponse]:
    """The state of an extraction job and the facts it produced."""
    request = pb.GetExtractionRequest(extraction_id=extraction_id)
    return Call(_MEMORY + "GetExtraction", request, pb.GetExtractionResponse, True, timeout)


def forget_user(user_id: str = "", *, timeout: float | None = None) -> Call[pb.ForgetUserResponse]:
    """Erase everything stored about a user."""
    request = pb.ForgetUserRequest(user_id=user_id)
    return Call(_MEMORY + "ForgetUser", request, pb.ForgetUserResponse, True, timeout)


def export_user(user_id: str = "", *, timeout: float | None = None) -> Call[pb.ExportUserResponse]:
    """Everything stored about a user, streamed from one snapshot: the user first, then
    sessions, messages, memories (superseded ones too), their events and extractions.

    Items are read as the server sends them (``for``, or ``async for`` on the asyncio client);
    iterating raises MemoireError (NotFound for an unknown user). ``timeout`` bounds the whole
    export: raise it for long histories.
    """
    request = pb.ExportUserRequest(user_id=user_id)
    return Call(_MEMORY + "ExportUser", request, pb.ExportUserResponse, True, timeout)


# --- AccountService --------------------------------------------------------------------------


def create_app(
    name: str, key_name: str = "", *, timeout: float | None = None
) -> Call[apb.CreateAppResponse]:
    """Register an app (a tenant) and issue its first app key, whose secret is in the
    response and nowhere else.

    The client's ``api_key`` must be the server's admin key (``MEMOIRE_ADMIN_KEY`` on the
    server), unless the server allows open sign-up. Not retried: a lost response would
    leave an app whose key nobody saw.
    """
    request = apb.CreateAppRequest(name=name, key_name=key_name)
    return Call(_ACCOUNTS + "CreateApp", request, apb.CreateAppResponse, False, timeout)


def create_user(
    user_id: str,
    *,
    metadata: Mapping[str, str] | None = None,
    issue_api_key: bool = False,
    timeout: float | None = None,
) -> Call[apb.CreateUserResponse]:
    """Register a user (an existing id is returned unchanged), optionally with a user key."""
    request = apb.CreateUserRequest(
        user_id=user_id, metadata=metadata or {}, issue_api_key=issue_api_key
    )
    # A repeat would issue a second key whose secret nobody saw.
    safe = not issue_api_key
    return Call(_ACCOUNTS + "CreateUser", request, apb.CreateUserResponse, safe, timeout)


def create_api_key(
    *,
    scope: account_pb2.ApiKeyScope = account_pb2.API_KEY_SCOPE_APP,
    user_id: str = "",
    name: str = "",
    expire_time: datetime | None = None,
    timeout: float | None = None,
) -> Call[apb.CreateApiKeyResponse]:
    """Issue a key; its secret is in the response and nowhere else."""
    request = apb.CreateApiKeyRequest(
        scope=scope, user_id=user_id, name=name, expire_time=timestamp(expire_time)
    )
    return Call(_ACCOUNTS + "CreateApiKey", request, apb.CreateApiKeyResponse, False, timeout)


def rotate_api_key(
    key_id: str, *, overlap_seconds: int = 0, timeout: float | None = None
) -> Call[apb.RotateApiKeyResponse]:
    """Issue a replacement key; the old one stops after ``overlap_seconds``."""
    request = apb.RotateApiKeyRequest(key_id=key_id, overlap_seconds=overlap_seconds)
    return Call(_ACCOUNTS + "RotateApiKey", request, apb.RotateApiKeyResponse, False, timeout)


def revoke_api_key(key_id: str, *, timeout: float | None = None) -> Call[apb.RevokeApiKeyResponse]:
    """Stop a key at once."""
    request = apb.RevokeApiKeyRequest(key_id=key_id)
    return Call(_ACCOUNTS + "RevokeApiKey", request, apb.RevokeApiKeyResponse, True, timeout)


def create_session(
    user_id: str = "",
    session_id: str = "",
    *,
    metadata: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Call[apb.CreateSessionResponse]:
    """Open a session (an existing id is returned unchanged)."""
    request = apb.CreateSessionRequest(
        user_id=user_id, session_id=session_id, metadata=metadata or {}
    )
    # Without an id the server assigns a new one, so a repeat would open a second session.
    safe = bool(session_id)
    return Call(_ACCOUNTS + "CreateSession", request, apb.CreateSessionResponse, safe, timeout)

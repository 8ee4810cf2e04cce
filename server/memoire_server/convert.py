"""Translation between protobuf messages and the core's values."""

import uuid
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from memoire.v1 import account_pb2, memory_pb2, memory_service_pb2

from memoire_core.domain import (
    EventType,
    EventView,
    FactIn,
    Hit,
    JobState,
    JobView,
    Kind,
    MemoryView,
    MessageIn,
    Role,
    Scope,
    Temporal,
)
from memoire_core.errors import Violations
from memoire_core.services.accounts import KeyView

KIND_TO_PB = {Kind.EPISODE: memory_pb2.MEMORY_KIND_EPISODE, Kind.FACT: memory_pb2.MEMORY_KIND_FACT}
KIND_FROM_PB = {v: k for k, v in KIND_TO_PB.items()}
TEMPORAL_TO_PB = {
    Temporal.CURRENT: memory_pb2.TEMPORAL_STATE_CURRENT,
    Temporal.PAST: memory_pb2.TEMPORAL_STATE_PAST,
    Temporal.PLANNED: memory_pb2.TEMPORAL_STATE_PLANNED,
}
TEMPORAL_FROM_PB = {v: k for k, v in TEMPORAL_TO_PB.items()}
ROLE_TO_PB = {
    Role.USER: memory_pb2.ROLE_USER,
    Role.ASSISTANT: memory_pb2.ROLE_ASSISTANT,
    Role.SYSTEM: memory_pb2.ROLE_SYSTEM,
    Role.TOOL: memory_pb2.ROLE_TOOL,
}
ROLE_FROM_PB = {v: k for k, v in ROLE_TO_PB.items()}
STATE_TO_PB = {
    JobState.PENDING: memory_pb2.EXTRACTION_STATE_PENDING,
    JobState.RUNNING: memory_pb2.EXTRACTION_STATE_RUNNING,
    JobState.SUCCEEDED: memory_pb2.EXTRACTION_STATE_SUCCEEDED,
    JobState.FAILED: memory_pb2.EXTRACTION_STATE_FAILED,
    JobState.SKIPPED: memory_pb2.EXTRACTION_STATE_SKIPPED,
}
EVENT_TO_PB = {
    EventType.CREATED: memory_pb2.MEMORY_EVENT_TYPE_CREATED,
    EventType.REFRESHED: memory_pb2.MEMORY_EVENT_TYPE_REFRESHED,
    EventType.SUPERSEDED: memory_pb2.MEMORY_EVENT_TYPE_SUPERSEDED,
    EventType.DECAYED: memory_pb2.MEMORY_EVENT_TYPE_DECAYED,
    EventType.PROMOTED: memory_pb2.MEMORY_EVENT_TYPE_PROMOTED,
    EventType.DELETED: memory_pb2.MEMORY_EVENT_TYPE_DELETED,
    EventType.RETRACTED: memory_pb2.MEMORY_EVENT_TYPE_RETRACTED,
    EventType.DEMOTED: memory_pb2.MEMORY_EVENT_TYPE_DEMOTED,
}
SCOPE_TO_PB = {Scope.APP: account_pb2.API_KEY_SCOPE_APP, Scope.USER: account_pb2.API_KEY_SCOPE_USER}
SCOPE_FROM_PB = {v: k for k, v in SCOPE_TO_PB.items()}


def ts(value: datetime | None) -> Timestamp | None:
    """A Timestamp, or None to leave the field unset."""
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


def time_of(message: object, name: str) -> datetime | None:
    """The datetime of an optional Timestamp field, or None when unset."""
    if not message.HasField(name):  # type: ignore[attr-defined]
        return None
    value: Timestamp = getattr(message, name)
    return value.ToDatetime(tzinfo=UTC)


def ids(values: list[uuid.UUID]) -> list[str]:
    return [str(v) for v in values]


def memory(view: MemoryView) -> memory_pb2.Memory:
    """The wire form of a memory."""
    return memory_pb2.Memory(
        id=str(view.id),
        user_id=view.user_external_id,
        kind=KIND_TO_PB[view.kind],
        content=view.content,
        category=view.category,
        slot=view.slot,
        temporal_state=TEMPORAL_TO_PB[view.temporal] if view.temporal else None,
        confidence=view.confidence,
        essential=view.essential,
        language=view.language,
        source_message_ids=ids(view.source_message_ids),
        session_id=view.session_external_id,
        role=ROLE_TO_PB[view.role] if view.role else None,
        valid_from_time=ts(view.valid_from),
        valid_to_time=ts(view.valid_to),
        create_time=ts(view.created_at),
        supersede_time=ts(view.superseded_at),
        superseded_by=str(view.superseded_by) if view.superseded_by else "",
        last_refresh_time=ts(view.last_refreshed_at),
        current=view.current,
        metadata=view.metadata,
        value=view.value,
    )


def hit(h: Hit) -> memory_service_pb2.RecallHit:
    """The wire form of a recall hit."""
    s = h.score
    return memory_service_pb2.RecallHit(
        memory=memory(h.memory),
        score=memory_service_pb2.ScoreBreakdown(
            vector=s.vector,
            full_text=s.full_text,
            trigram=s.trigram,
            fused=s.fused,
            confidence_weight=s.confidence_weight,
            recency_weight=s.recency_weight,
            final=s.final,
        ),
    )


def event(e: EventView) -> memory_pb2.MemoryEvent:
    """The wire form of a history entry."""
    return memory_pb2.MemoryEvent(
        id=str(e.id),
        memory_id=str(e.memory_id),
        type=EVENT_TO_PB[e.type],
        cause=e.cause,
        related_memory_id=str(e.related_memory_id) if e.related_memory_id else "",
        extraction_id=str(e.extraction_id) if e.extraction_id else "",
        confidence_before=e.confidence_before or 0.0,
        confidence_after=e.confidence_after or 0.0,
        create_time=ts(e.created_at),
        slot=e.slot,
    )


def extraction(job: JobView) -> memory_pb2.Extraction:
    """The wire form of an extraction job."""
    return memory_pb2.Extraction(
        id=str(job.id),
        user_id=job.user_external_id,
        session_id=job.session_external_id,
        state=STATE_TO_PB[job.state],
        reason=job.reason,
        message_ids=ids(job.message_ids),
        facts=[memory(f) for f in job.facts],
        attempts=job.attempts,
        model=job.model,
        prompt_tokens=job.prompt_tokens,
        completion_tokens=job.completion_tokens,
        llm_latency_ms=job.llm_latency_ms,
        create_time=ts(job.created_at),
        start_time=ts(job.started_at),
        end_time=ts(job.finished_at),
    )


def api_key(key: KeyView) -> account_pb2.ApiKey:
    """The wire form of a key: never its secret."""
    return account_pb2.ApiKey(
        id=key.key_id,
        scope=SCOPE_TO_PB[key.scope],
        user_id=key.user_external_id,
        name=key.name,
        create_time=ts(key.created_at),
        expire_time=ts(key.expires_at),
        revoke_time=ts(key.revoked_at),
    )


def messages_in(request: memory_service_pb2.IngestRequest, v: Violations) -> list[MessageIn]:
    """The messages of an Ingest request; an unset or unknown role is recorded in ``v``."""
    out: list[MessageIn] = []
    for i, m in enumerate(request.messages):
        role = ROLE_FROM_PB.get(m.role)
        if role is None:
            v.add(
                f"messages[{i}].role", "must be ROLE_USER, ROLE_ASSISTANT, ROLE_SYSTEM or ROLE_TOOL"
            )
        out.append(
            MessageIn(
                role=role or Role.USER,
                content=m.content,
                client_message_id=m.client_message_id or None,
                said_at=time_of(m, "create_time"),
                metadata=dict(m.metadata),
            )
        )
    return out


def facts_in(request: memory_service_pb2.AddMemoriesRequest, v: Violations) -> list[FactIn]:
    """The facts of an AddMemories request; an unknown temporal state is recorded in ``v``."""
    out: list[FactIn] = []
    for i, f in enumerate(request.facts):
        temporal = TEMPORAL_FROM_PB.get(f.temporal_state, Temporal.CURRENT)
        if f.temporal_state not in TEMPORAL_FROM_PB and f.temporal_state != 0:
            v.add(f"facts[{i}].temporal_state", "is not a known TemporalState")
        out.append(
            FactIn(
                content=f.content,
                category=f.category,
                slot=f.slot,
                temporal=temporal,
                confidence=f.confidence if f.confidence != 0 else 0.9,
                essential=f.essential,
                valid_from=time_of(f, "valid_from_time"),
                language=f.language,
                metadata=dict(f.metadata),
                value=f.value,
                retract=f.retract,
            )
        )
    return out


def kinds_in(values: list[int], path: str) -> frozenset[Kind]:
    """Memory kinds of a filter; unknown values are INVALID_ARGUMENT."""
    v = Violations()
    out: set[Kind] = set()
    for i, value in enumerate(values):
        if value == 0:
            continue
        kind = KIND_FROM_PB.get(value)  # type: ignore[call-overload]
        if kind is None:
            v.add(f"{path}[{i}]", "is not a known MemoryKind")
        else:
            out.add(kind)
    v.raise_if_any()
    return frozenset(out)

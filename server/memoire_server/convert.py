"""Translation between protobuf messages and the core's values."""

import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from memoire_core.domain import (
    EventType,
    EventView,
    FactIn,
    FactOutcome,
    FactResult,
    Hit,
    JobState,
    JobView,
    KeyView,
    Kind,
    MemoryView,
    MessageIn,
    MessageView,
    Role,
    Scope,
    SessionView,
    Temporal,
    UserView,
)
from memoire_core.errors import FieldViolation, InvalidArgument, Violations
from memoire_core.services.export import ExportItem
from memoire_core.slots import Cardinality
from memoire_proto.v1 import account_pb2, memory_pb2, memory_service_pb2

D = TypeVar("D", bound=Enum)
P = TypeVar("P", bound=int)


def by_name(values: type[D], enum: type[P], prefix: str) -> dict[D, P]:
    """Each domain value to the contract's value of the same name (``prefix`` + its name).

    A domain value with no namesake in the contract fails at import, never on a call.
    """
    return {value: getattr(enum, prefix + value.name) for value in values}


KIND_TO_PB = by_name(Kind, memory_pb2.MemoryKind, "MEMORY_KIND_")
KIND_FROM_PB = {v: k for k, v in KIND_TO_PB.items()}
TEMPORAL_TO_PB = by_name(Temporal, memory_pb2.TemporalState, "TEMPORAL_STATE_")
TEMPORAL_FROM_PB = {v: k for k, v in TEMPORAL_TO_PB.items()}
ROLE_TO_PB = by_name(Role, memory_pb2.Role, "ROLE_")
ROLE_FROM_PB = {v: k for k, v in ROLE_TO_PB.items()}
STATE_TO_PB = by_name(JobState, memory_pb2.ExtractionState, "EXTRACTION_STATE_")
EVENT_TO_PB = by_name(EventType, memory_pb2.MemoryEventType, "MEMORY_EVENT_TYPE_")
OUTCOME_TO_PB = by_name(FactOutcome, memory_pb2.FactOutcome, "FACT_OUTCOME_")
# Polarity on input: unspecified is an affirmation; the value is whether the fact is negated.
NEGATED_FROM_PB = {
    memory_pb2.POLARITY_UNSPECIFIED: False,
    memory_pb2.POLARITY_POSITIVE: False,
    memory_pb2.POLARITY_NEGATIVE: True,
}
CARDINALITY_FROM_PB = {
    memory_service_pb2.SLOT_CARDINALITY_UNSPECIFIED: None,
    memory_service_pb2.SLOT_CARDINALITY_SINGLE: Cardinality.SINGLE,
    memory_service_pb2.SLOT_CARDINALITY_MULTI: Cardinality.MULTI,
}
SCOPE_TO_PB = by_name(Scope, account_pb2.ApiKeyScope, "API_KEY_SCOPE_")
SCOPE_FROM_PB = {v: k for k, v in SCOPE_TO_PB.items()}


def ts(value: datetime | None) -> Timestamp | None:
    """A Timestamp, or None to leave the field unset."""
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


def time_of(message: object, name: str, path: str = "") -> datetime | None:
    """The datetime of an optional Timestamp field, or None when unset.

    A Timestamp outside the years 1 to 9999 (or with nanos outside a second) is
    INVALID_ARGUMENT naming ``path``, the field's name by default.
    """
    if not message.HasField(name):  # type: ignore[attr-defined]
        return None
    value: Timestamp = getattr(message, name)
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as error:
        violation = FieldViolation(path or name, "must be a time from year 1 to 9999")
        raise InvalidArgument([violation]) from error


def _time_in(message: object, name: str, path: str, v: Violations) -> datetime | None:
    """``time_of`` for a field of a batch item: a bad time joins the request's violations."""
    try:
        return time_of(message, name, path)
    except InvalidArgument as error:
        v.items.extend(error.violations)
        return None


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
        polarity=_polarity(view),
    )


def _polarity(view: MemoryView) -> memory_pb2.Polarity:
    if view.kind is not Kind.FACT:
        return memory_pb2.POLARITY_UNSPECIFIED
    return memory_pb2.POLARITY_NEGATIVE if view.negated else memory_pb2.POLARITY_POSITIVE


def fact_result(result: FactResult) -> memory_pb2.FactResult:
    """The wire form of what writing one fact did."""
    return memory_pb2.FactResult(
        outcome=OUTCOME_TO_PB[result.outcome],
        memory_id=str(result.memory_id) if result.memory_id else "",
        reason=result.reason,
        content=result.content,
        slot=result.slot,
        value=result.value,
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
        unmatched_retractions=[fact_result(r) for r in job.unmatched],
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
                said_at=_time_in(m, "create_time", f"messages[{i}].create_time", v),
                metadata=dict(m.metadata),
            )
        )
    return out


def facts_in(
    request: memory_service_pb2.AddMemoriesRequest, v: Violations, default_confidence: float
) -> list[FactIn]:
    """The facts of an AddMemories request, unrated ones at ``default_confidence``; an unknown
    enum value is recorded in ``v``."""
    out: list[FactIn] = []
    for i, f in enumerate(request.facts):
        temporal = TEMPORAL_FROM_PB.get(f.temporal_state, Temporal.CURRENT)
        if f.temporal_state not in TEMPORAL_FROM_PB and f.temporal_state != 0:
            v.add(f"facts[{i}].temporal_state", "is not a known TemporalState")
        if f.polarity not in NEGATED_FROM_PB:
            v.add(f"facts[{i}].polarity", "is not a known Polarity")
        if f.slot_cardinality not in CARDINALITY_FROM_PB:
            v.add(f"facts[{i}].slot_cardinality", "is not a known SlotCardinality")
        out.append(
            FactIn(
                content=f.content,
                category=f.category,
                slot=f.slot,
                temporal=temporal,
                confidence=f.confidence or default_confidence,
                essential=f.essential,
                valid_from=_time_in(f, "valid_from_time", f"facts[{i}].valid_from_time", v),
                language=f.language,
                metadata=dict(f.metadata),
                value=f.value,
                retract=f.retract,
                negated=NEGATED_FROM_PB.get(f.polarity, False),
                cardinality=CARDINALITY_FROM_PB.get(f.slot_cardinality),
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


def export_item(item: ExportItem) -> memory_service_pb2.ExportUserResponse:
    """One record of an export, in the oneof field that fits it."""
    match item:
        case UserView():
            return memory_service_pb2.ExportUserResponse(
                user=account_pb2.User(
                    id=item.external_id, metadata=item.metadata, create_time=ts(item.created_at)
                )
            )
        case SessionView():
            return memory_service_pb2.ExportUserResponse(
                session=account_pb2.Session(
                    id=item.external_id,
                    user_id=item.user_external_id,
                    create_time=ts(item.created_at),
                    metadata=item.metadata,
                )
            )
        case MessageView():
            return memory_service_pb2.ExportUserResponse(
                message=memory_pb2.Message(
                    id=str(item.id),
                    session_id=item.session_external_id,
                    role=ROLE_TO_PB[item.role],
                    content=item.content,
                    client_message_id=item.client_message_id,
                    create_time=ts(item.said_at),
                    metadata=item.metadata,
                )
            )
        case MemoryView():
            return memory_service_pb2.ExportUserResponse(memory=memory(item))
        case EventView():
            return memory_service_pb2.ExportUserResponse(event=event(item))
        case JobView():
            return memory_service_pb2.ExportUserResponse(extraction=extraction(item))

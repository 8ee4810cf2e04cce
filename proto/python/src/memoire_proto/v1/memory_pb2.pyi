import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemoryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMORY_KIND_UNSPECIFIED: _ClassVar[MemoryKind]
    MEMORY_KIND_EPISODE: _ClassVar[MemoryKind]
    MEMORY_KIND_FACT: _ClassVar[MemoryKind]

class TemporalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEMPORAL_STATE_UNSPECIFIED: _ClassVar[TemporalState]
    TEMPORAL_STATE_CURRENT: _ClassVar[TemporalState]
    TEMPORAL_STATE_PAST: _ClassVar[TemporalState]
    TEMPORAL_STATE_PLANNED: _ClassVar[TemporalState]

class Polarity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLARITY_UNSPECIFIED: _ClassVar[Polarity]
    POLARITY_POSITIVE: _ClassVar[Polarity]
    POLARITY_NEGATIVE: _ClassVar[Polarity]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_USER: _ClassVar[Role]
    ROLE_ASSISTANT: _ClassVar[Role]
    ROLE_SYSTEM: _ClassVar[Role]
    ROLE_TOOL: _ClassVar[Role]

class MemoryEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMORY_EVENT_TYPE_UNSPECIFIED: _ClassVar[MemoryEventType]
    MEMORY_EVENT_TYPE_CREATED: _ClassVar[MemoryEventType]
    MEMORY_EVENT_TYPE_REFRESHED: _ClassVar[MemoryEventType]
    MEMORY_EVENT_TYPE_SUPERSEDED: _ClassVar[MemoryEventType]
    MEMORY_EVENT_TYPE_DECAYED: _ClassVar[MemoryEventType]
    MEMORY_EVENT_TYPE_PROMOTED: _ClassVar[MemoryEventType]
    MEMORY_EVENT_TYPE_DELETED: _ClassVar[MemoryEventType]
    MEMORY_EVENT_TYPE_RETRACTED: _ClassVar[MemoryEventType]
    MEMORY_EVENT_TYPE_DEMOTED: _ClassVar[MemoryEventType]
    MEMORY_EVENT_TYPE_RESTORED: _ClassVar[MemoryEventType]

class ExtractionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXTRACTION_STATE_UNSPECIFIED: _ClassVar[ExtractionState]
    EXTRACTION_STATE_PENDING: _ClassVar[ExtractionState]
    EXTRACTION_STATE_RUNNING: _ClassVar[ExtractionState]
    EXTRACTION_STATE_SUCCEEDED: _ClassVar[ExtractionState]
    EXTRACTION_STATE_FAILED: _ClassVar[ExtractionState]
    EXTRACTION_STATE_SKIPPED: _ClassVar[ExtractionState]

class FactOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FACT_OUTCOME_UNSPECIFIED: _ClassVar[FactOutcome]
    FACT_OUTCOME_CREATED: _ClassVar[FactOutcome]
    FACT_OUTCOME_REFRESHED: _ClassVar[FactOutcome]
    FACT_OUTCOME_RETRACTED: _ClassVar[FactOutcome]
    FACT_OUTCOME_UNMATCHED: _ClassVar[FactOutcome]
MEMORY_KIND_UNSPECIFIED: MemoryKind
MEMORY_KIND_EPISODE: MemoryKind
MEMORY_KIND_FACT: MemoryKind
TEMPORAL_STATE_UNSPECIFIED: TemporalState
TEMPORAL_STATE_CURRENT: TemporalState
TEMPORAL_STATE_PAST: TemporalState
TEMPORAL_STATE_PLANNED: TemporalState
POLARITY_UNSPECIFIED: Polarity
POLARITY_POSITIVE: Polarity
POLARITY_NEGATIVE: Polarity
ROLE_UNSPECIFIED: Role
ROLE_USER: Role
ROLE_ASSISTANT: Role
ROLE_SYSTEM: Role
ROLE_TOOL: Role
MEMORY_EVENT_TYPE_UNSPECIFIED: MemoryEventType
MEMORY_EVENT_TYPE_CREATED: MemoryEventType
MEMORY_EVENT_TYPE_REFRESHED: MemoryEventType
MEMORY_EVENT_TYPE_SUPERSEDED: MemoryEventType
MEMORY_EVENT_TYPE_DECAYED: MemoryEventType
MEMORY_EVENT_TYPE_PROMOTED: MemoryEventType
MEMORY_EVENT_TYPE_DELETED: MemoryEventType
MEMORY_EVENT_TYPE_RETRACTED: MemoryEventType
MEMORY_EVENT_TYPE_DEMOTED: MemoryEventType
MEMORY_EVENT_TYPE_RESTORED: MemoryEventType
EXTRACTION_STATE_UNSPECIFIED: ExtractionState
EXTRACTION_STATE_PENDING: ExtractionState
EXTRACTION_STATE_RUNNING: ExtractionState
EXTRACTION_STATE_SUCCEEDED: ExtractionState
EXTRACTION_STATE_FAILED: ExtractionState
EXTRACTION_STATE_SKIPPED: ExtractionState
FACT_OUTCOME_UNSPECIFIED: FactOutcome
FACT_OUTCOME_CREATED: FactOutcome
FACT_OUTCOME_REFRESHED: FactOutcome
FACT_OUTCOME_RETRACTED: FactOutcome
FACT_OUTCOME_UNMATCHED: FactOutcome

class Memory(_message.Message):
    __slots__ = ("id", "user_id", "kind", "content", "category", "slot", "temporal_state", "confidence", "essential", "language", "source_message_ids", "session_id", "role", "valid_from_time", "valid_to_time", "create_time", "supersede_time", "superseded_by", "last_refresh_time", "current", "metadata", "value", "polarity")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_STATE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ESSENTIAL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    VALID_TO_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDE_TIME_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_BY_FIELD_NUMBER: _ClassVar[int]
    LAST_REFRESH_TIME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    POLARITY_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    kind: MemoryKind
    content: str
    category: str
    slot: str
    temporal_state: TemporalState
    confidence: float
    essential: bool
    language: str
    source_message_ids: _containers.RepeatedScalarFieldContainer[str]
    session_id: str
    role: Role
    valid_from_time: _timestamp_pb2.Timestamp
    valid_to_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    supersede_time: _timestamp_pb2.Timestamp
    superseded_by: str
    last_refresh_time: _timestamp_pb2.Timestamp
    current: bool
    metadata: _containers.ScalarMap[str, str]
    value: str
    polarity: Polarity
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., kind: _Optional[_Union[MemoryKind, str]] = ..., content: _Optional[str] = ..., category: _Optional[str] = ..., slot: _Optional[str] = ..., temporal_state: _Optional[_Union[TemporalState, str]] = ..., confidence: _Optional[float] = ..., essential: _Optional[bool] = ..., language: _Optional[str] = ..., source_message_ids: _Optional[_Iterable[str]] = ..., session_id: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., valid_from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., supersede_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., superseded_by: _Optional[str] = ..., last_refresh_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current: _Optional[bool] = ..., metadata: _Optional[_Mapping[str, str]] = ..., value: _Optional[str] = ..., polarity: _Optional[_Union[Polarity, str]] = ...) -> None: ...

class MemoryEvent(_message.Message):
    __slots__ = ("id", "memory_id", "type", "cause", "related_memory_id", "extraction_id", "confidence_before", "confidence_after", "create_time", "slot")
    ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    RELATED_MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    id: str
    memory_id: str
    type: MemoryEventType
    cause: str
    related_memory_id: str
    extraction_id: str
    confidence_before: float
    confidence_after: float
    create_time: _timestamp_pb2.Timestamp
    slot: str
    def __init__(self, id: _Optional[str] = ..., memory_id: _Optional[str] = ..., type: _Optional[_Union[MemoryEventType, str]] = ..., cause: _Optional[str] = ..., related_memory_id: _Optional[str] = ..., extraction_id: _Optional[str] = ..., confidence_before: _Optional[float] = ..., confidence_after: _Optional[float] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., slot: _Optional[str] = ...) -> None: ...

class Extraction(_message.Message):
    __slots__ = ("id", "user_id", "session_id", "state", "reason", "message_ids", "facts", "attempts", "model", "prompt_tokens", "completion_tokens", "create_time", "start_time", "end_time", "llm_latency_ms", "unmatched_retractions")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LLM_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_RETRACTIONS_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    session_id: str
    state: ExtractionState
    reason: str
    message_ids: _containers.RepeatedScalarFieldContainer[str]
    facts: _containers.RepeatedCompositeFieldContainer[Memory]
    attempts: int
    model: str
    prompt_tokens: int
    completion_tokens: int
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    llm_latency_ms: int
    unmatched_retractions: _containers.RepeatedCompositeFieldContainer[FactResult]
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., state: _Optional[_Union[ExtractionState, str]] = ..., reason: _Optional[str] = ..., message_ids: _Optional[_Iterable[str]] = ..., facts: _Optional[_Iterable[_Union[Memory, _Mapping]]] = ..., attempts: _Optional[int] = ..., model: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., llm_latency_ms: _Optional[int] = ..., unmatched_retractions: _Optional[_Iterable[_Union[FactResult, _Mapping]]] = ...) -> None: ...

class FactResult(_message.Message):
    __slots__ = ("outcome", "memory_id", "reason", "content", "slot", "value")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    outcome: FactOutcome
    memory_id: str
    reason: str
    content: str
    slot: str
    value: str
    def __init__(self, outcome: _Optional[_Union[FactOutcome, str]] = ..., memory_id: _Optional[str] = ..., reason: _Optional[str] = ..., content: _Optional[str] = ..., slot: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("id", "session_id", "role", "content", "client_message_id", "create_time", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    session_id: str
    role: Role
    content: str
    client_message_id: str
    create_time: _timestamp_pb2.Timestamp
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., session_id: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., content: _Optional[str] = ..., client_message_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

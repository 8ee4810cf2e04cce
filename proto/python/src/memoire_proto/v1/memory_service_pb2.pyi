import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from memoire_proto.v1 import account_pb2 as _account_pb2
from memoire_proto.v1 import memory_pb2 as _memory_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SlotCardinality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SLOT_CARDINALITY_UNSPECIFIED: _ClassVar[SlotCardinality]
    SLOT_CARDINALITY_SINGLE: _ClassVar[SlotCardinality]
    SLOT_CARDINALITY_MULTI: _ClassVar[SlotCardinality]
SLOT_CARDINALITY_UNSPECIFIED: SlotCardinality
SLOT_CARDINALITY_SINGLE: SlotCardinality
SLOT_CARDINALITY_MULTI: SlotCardinality

class MessageInput(_message.Message):
    __slots__ = ("role", "content", "client_message_id", "create_time", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    role: _memory_pb2.Role
    content: str
    client_message_id: str
    create_time: _timestamp_pb2.Timestamp
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, role: _Optional[_Union[_memory_pb2.Role, str]] = ..., content: _Optional[str] = ..., client_message_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("user_id", "session_id", "messages", "skip_extraction")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SKIP_EXTRACTION_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    session_id: str
    messages: _containers.RepeatedCompositeFieldContainer[MessageInput]
    skip_extraction: bool
    def __init__(self, user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[MessageInput, _Mapping]]] = ..., skip_extraction: _Optional[bool] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("message_ids", "extraction_id", "extraction_state", "duplicate_count")
    MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_ID_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_STATE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    message_ids: _containers.RepeatedScalarFieldContainer[str]
    extraction_id: str
    extraction_state: _memory_pb2.ExtractionState
    duplicate_count: int
    def __init__(self, message_ids: _Optional[_Iterable[str]] = ..., extraction_id: _Optional[str] = ..., extraction_state: _Optional[_Union[_memory_pb2.ExtractionState, str]] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class FactInput(_message.Message):
    __slots__ = ("content", "category", "slot", "temporal_state", "confidence", "essential", "valid_from_time", "language", "metadata", "value", "retract", "polarity", "slot_cardinality")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_STATE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ESSENTIAL_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RETRACT_FIELD_NUMBER: _ClassVar[int]
    POLARITY_FIELD_NUMBER: _ClassVar[int]
    SLOT_CARDINALITY_FIELD_NUMBER: _ClassVar[int]
    content: str
    category: str
    slot: str
    temporal_state: _memory_pb2.TemporalState
    confidence: float
    essential: bool
    valid_from_time: _timestamp_pb2.Timestamp
    language: str
    metadata: _containers.ScalarMap[str, str]
    value: str
    retract: bool
    polarity: _memory_pb2.Polarity
    slot_cardinality: SlotCardinality
    def __init__(self, content: _Optional[str] = ..., category: _Optional[str] = ..., slot: _Optional[str] = ..., temporal_state: _Optional[_Union[_memory_pb2.TemporalState, str]] = ..., confidence: _Optional[float] = ..., essential: _Optional[bool] = ..., valid_from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., language: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., value: _Optional[str] = ..., retract: _Optional[bool] = ..., polarity: _Optional[_Union[_memory_pb2.Polarity, str]] = ..., slot_cardinality: _Optional[_Union[SlotCardinality, str]] = ...) -> None: ...

class AddMemoriesRequest(_message.Message):
    __slots__ = ("user_id", "facts", "request_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    facts: _containers.RepeatedCompositeFieldContainer[FactInput]
    request_id: str
    def __init__(self, user_id: _Optional[str] = ..., facts: _Optional[_Iterable[_Union[FactInput, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AddMemoriesResponse(_message.Message):
    __slots__ = ("memories", "results")
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Memory]
    results: _containers.RepeatedCompositeFieldContainer[_memory_pb2.FactResult]
    def __init__(self, memories: _Optional[_Iterable[_Union[_memory_pb2.Memory, _Mapping]]] = ..., results: _Optional[_Iterable[_Union[_memory_pb2.FactResult, _Mapping]]] = ...) -> None: ...

class RecallRequest(_message.Message):
    __slots__ = ("user_id", "query", "limit", "kinds", "categories", "current_view_only", "as_of_time", "start_time", "end_time", "session_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VIEW_ONLY_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    query: str
    limit: int
    kinds: _containers.RepeatedScalarFieldContainer[_memory_pb2.MemoryKind]
    categories: _containers.RepeatedScalarFieldContainer[str]
    current_view_only: bool
    as_of_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    session_id: str
    def __init__(self, user_id: _Optional[str] = ..., query: _Optional[str] = ..., limit: _Optional[int] = ..., kinds: _Optional[_Iterable[_Union[_memory_pb2.MemoryKind, str]]] = ..., categories: _Optional[_Iterable[str]] = ..., current_view_only: _Optional[bool] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_id: _Optional[str] = ...) -> None: ...

class ScoreBreakdown(_message.Message):
    __slots__ = ("vector", "full_text", "trigram", "fused", "confidence_weight", "recency_weight", "final")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    FULL_TEXT_FIELD_NUMBER: _ClassVar[int]
    TRIGRAM_FIELD_NUMBER: _ClassVar[int]
    FUSED_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    RECENCY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    vector: float
    full_text: float
    trigram: float
    fused: float
    confidence_weight: float
    recency_weight: float
    final: float
    def __init__(self, vector: _Optional[float] = ..., full_text: _Optional[float] = ..., trigram: _Optional[float] = ..., fused: _Optional[float] = ..., confidence_weight: _Optional[float] = ..., recency_weight: _Optional[float] = ..., final: _Optional[float] = ...) -> None: ...

class RecallHit(_message.Message):
    __slots__ = ("memory", "score")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    memory: _memory_pb2.Memory
    score: ScoreBreakdown
    def __init__(self, memory: _Optional[_Union[_memory_pb2.Memory, _Mapping]] = ..., score: _Optional[_Union[ScoreBreakdown, _Mapping]] = ...) -> None: ...

class RecallResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[RecallHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[RecallHit, _Mapping]]] = ...) -> None: ...

class ConsciousRequest(_message.Message):
    __slots__ = ("user_id", "limit")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    limit: int
    def __init__(self, user_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ConsciousResponse(_message.Message):
    __slots__ = ("memories", "prompt_block")
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_BLOCK_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Memory]
    prompt_block: str
    def __init__(self, memories: _Optional[_Iterable[_Union[_memory_pb2.Memory, _Mapping]]] = ..., prompt_block: _Optional[str] = ...) -> None: ...

class ListMemoriesRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token", "kind", "category", "slot", "current_view_only")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VIEW_ONLY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    page_size: int
    page_token: str
    kind: _memory_pb2.MemoryKind
    category: str
    slot: str
    current_view_only: bool
    def __init__(self, user_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., kind: _Optional[_Union[_memory_pb2.MemoryKind, str]] = ..., category: _Optional[str] = ..., slot: _Optional[str] = ..., current_view_only: _Optional[bool] = ...) -> None: ...

class ListMemoriesResponse(_message.Message):
    __slots__ = ("memories", "next_page_token")
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Memory]
    next_page_token: str
    def __init__(self, memories: _Optional[_Iterable[_Union[_memory_pb2.Memory, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetMemoryRequest(_message.Message):
    __slots__ = ("memory_id",)
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    memory_id: str
    def __init__(self, memory_id: _Optional[str] = ...) -> None: ...

class GetMemoryResponse(_message.Message):
    __slots__ = ("memory",)
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    memory: _memory_pb2.Memory
    def __init__(self, memory: _Optional[_Union[_memory_pb2.Memory, _Mapping]] = ...) -> None: ...

class DeleteMemoryRequest(_message.Message):
    __slots__ = ("memory_id",)
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    memory_id: str
    def __init__(self, memory_id: _Optional[str] = ...) -> None: ...

class DeleteMemoryResponse(_message.Message):
    __slots__ = ("memory_id",)
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    memory_id: str
    def __init__(self, memory_id: _Optional[str] = ...) -> None: ...

class GetMemoryHistoryRequest(_message.Message):
    __slots__ = ("memory_id", "page_size", "page_token")
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    memory_id: str
    page_size: int
    page_token: str
    def __init__(self, memory_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetMemoryHistoryResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_memory_pb2.MemoryEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[_memory_pb2.MemoryEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetExtractionRequest(_message.Message):
    __slots__ = ("extraction_id",)
    EXTRACTION_ID_FIELD_NUMBER: _ClassVar[int]
    extraction_id: str
    def __init__(self, extraction_id: _Optional[str] = ...) -> None: ...

class GetExtractionResponse(_message.Message):
    __slots__ = ("extraction",)
    EXTRACTION_FIELD_NUMBER: _ClassVar[int]
    extraction: _memory_pb2.Extraction
    def __init__(self, extraction: _Optional[_Union[_memory_pb2.Extraction, _Mapping]] = ...) -> None: ...

class ForgetUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class ForgetUserResponse(_message.Message):
    __slots__ = ("deleted_messages", "deleted_memories")
    DELETED_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    DELETED_MEMORIES_FIELD_NUMBER: _ClassVar[int]
    deleted_messages: int
    deleted_memories: int
    def __init__(self, deleted_messages: _Optional[int] = ..., deleted_memories: _Optional[int] = ...) -> None: ...

class ExportUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class ExportUserResponse(_message.Message):
    __slots__ = ("user", "session", "message", "memory", "event", "extraction")
    USER_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_FIELD_NUMBER: _ClassVar[int]
    user: _account_pb2.User
    session: _account_pb2.Session
    message: _memory_pb2.Message
    memory: _memory_pb2.Memory
    event: _memory_pb2.MemoryEvent
    extraction: _memory_pb2.Extraction
    def __init__(self, user: _Optional[_Union[_account_pb2.User, _Mapping]] = ..., session: _Optional[_Union[_account_pb2.Session, _Mapping]] = ..., message: _Optional[_Union[_memory_pb2.Message, _Mapping]] = ..., memory: _Optional[_Union[_memory_pb2.Memory, _Mapping]] = ..., event: _Optional[_Union[_memory_pb2.MemoryEvent, _Mapping]] = ..., extraction: _Optional[_Union[_memory_pb2.Extraction, _Mapping]] = ...) -> None: ...

class TurnStart(_message.Message):
    __slots__ = ("turn_id", "user_id", "session_id", "user_message", "recall_limit", "create_time")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RECALL_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    user_id: str
    session_id: str
    user_message: str
    recall_limit: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, turn_id: _Optional[str] = ..., user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., user_message: _Optional[str] = ..., recall_limit: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AssistantDelta(_message.Message):
    __slots__ = ("turn_id", "text")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    text: str
    def __init__(self, turn_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class TurnEnd(_message.Message):
    __slots__ = ("turn_id", "assistant_message", "abandoned")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    assistant_message: str
    abandoned: bool
    def __init__(self, turn_id: _Optional[str] = ..., assistant_message: _Optional[str] = ..., abandoned: _Optional[bool] = ...) -> None: ...

class ObserveChatRequest(_message.Message):
    __slots__ = ("start", "delta", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: TurnStart
    delta: AssistantDelta
    end: TurnEnd
    def __init__(self, start: _Optional[_Union[TurnStart, _Mapping]] = ..., delta: _Optional[_Union[AssistantDelta, _Mapping]] = ..., end: _Optional[_Union[TurnEnd, _Mapping]] = ...) -> None: ...

class TurnContext(_message.Message):
    __slots__ = ("turn_id", "conscious", "recalled", "prompt_block")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    CONSCIOUS_FIELD_NUMBER: _ClassVar[int]
    RECALLED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_BLOCK_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    conscious: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Memory]
    recalled: _containers.RepeatedCompositeFieldContainer[RecallHit]
    prompt_block: str
    def __init__(self, turn_id: _Optional[str] = ..., conscious: _Optional[_Iterable[_Union[_memory_pb2.Memory, _Mapping]]] = ..., recalled: _Optional[_Iterable[_Union[RecallHit, _Mapping]]] = ..., prompt_block: _Optional[str] = ...) -> None: ...

class TurnStored(_message.Message):
    __slots__ = ("turn_id", "message_ids", "extraction_id")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_ID_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    message_ids: _containers.RepeatedScalarFieldContainer[str]
    extraction_id: str
    def __init__(self, turn_id: _Optional[str] = ..., message_ids: _Optional[_Iterable[str]] = ..., extraction_id: _Optional[str] = ...) -> None: ...

class MemoryUpdate(_message.Message):
    __slots__ = ("turn_id", "extraction_id", "events", "memories", "extraction_state")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_STATE_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    extraction_id: str
    events: _containers.RepeatedCompositeFieldContainer[_memory_pb2.MemoryEvent]
    memories: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Memory]
    extraction_state: _memory_pb2.ExtractionState
    def __init__(self, turn_id: _Optional[str] = ..., extraction_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[_memory_pb2.MemoryEvent, _Mapping]]] = ..., memories: _Optional[_Iterable[_Union[_memory_pb2.Memory, _Mapping]]] = ..., extraction_state: _Optional[_Union[_memory_pb2.ExtractionState, str]] = ...) -> None: ...

class ObserveChatResponse(_message.Message):
    __slots__ = ("context", "stored", "update")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    context: TurnContext
    stored: TurnStored
    update: MemoryUpdate
    def __init__(self, context: _Optional[_Union[TurnContext, _Mapping]] = ..., stored: _Optional[_Union[TurnStored, _Mapping]] = ..., update: _Optional[_Union[MemoryUpdate, _Mapping]] = ...) -> None: ...

"""What the MCP tools take and give back: typed, flat shapes an agent reads at a glance.

Enums travel as short lower-case words ("fact", "current", "superseded"), times as ISO 8601,
and empty protobuf fields as empty strings or null, so the schemas stay small and stable.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from memoire.calls import timestamp
from pydantic import BaseModel, Field

from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb

Kind = Literal["episode", "fact"]
State = Literal["current", "past", "planned"]

KINDS: dict[Kind, memory_pb2.MemoryKind] = {
    "episode": memory_pb2.MEMORY_KIND_EPISODE,
    "fact": memory_pb2.MEMORY_KIND_FACT,
}
STATES: dict[State, memory_pb2.TemporalState] = {
    "current": memory_pb2.TEMPORAL_STATE_CURRENT,
    "past": memory_pb2.TEMPORAL_STATE_PAST,
    "planned": memory_pb2.TEMPORAL_STATE_PLANNED,
}


def enum_word(name: str, prefix: str) -> str:
    """``TEMPORAL_STATE_CURRENT`` as ``current``; an unset enum as the empty string."""
    word = name.removeprefix(prefix).lower()
    return "" if word == "unspecified" else word


# The fields of a Memory and a MemoryEvent that their shapes take as they are.
MEMORY_AS_IS = (
    "id", "content", "slot", "value", "category", "current", "essential", "superseded_by",
    "session_id",
)  # fmt: skip
EVENT_AS_IS = ("memory_id", "cause", "related_memory_id", "slot")


def copied(message: Message, fields: tuple[str, ...]) -> dict[str, Any]:
    """Fields of a protobuf by name, with their values as they are."""
    return {field: getattr(message, field) for field in fields}


def moment(message: object, field: str) -> datetime | None:
    """An optional timestamp field as an aware datetime, or None when unset."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    value: Timestamp = getattr(message, field)
    return value.ToDatetime(tzinfo=UTC)


class FactInput(BaseModel):
    """One structured fact to write directly, with slot supersession."""

    content: Annotated[str, Field(description='The statement, e.g. "Lives in Dallas".')]
    slot: Annotated[
        str,
        Field(
            description="Normalised slot key such as location.home, employer, "
            "relationship.partner or preference.<topic> ([a-z0-9_.]); a new value of a "
            "single-valued slot retires the old one. Empty for none."
        ),
    ] = ""
    value: Annotated[
        str, Field(description='The slot\'s value alone, e.g. "Dallas"; compared on restatement.')
    ] = ""
    category: Annotated[str, Field(description='Free-form category, e.g. "location".')] = ""
    state: Annotated[
        State, Field(description="When it holds: current (default), past or planned.")
    ] = "current"
    negated: Annotated[
        bool, Field(description='True when the statement is denied ("not allergic to peanuts").')
    ] = False
    essential: Annotated[
        bool, Field(description="True to serve it at every session start (conscious memory).")
    ] = False
    retract: Annotated[
        bool,
        Field(
            description='True to take back the current fact of this slot and value ("no '
            'longer plays chess"); nothing new is stored.'
        ),
    ] = False
    multi_valued: Annotated[
        bool,
        Field(
            description="For a slot the server does not know: true when it holds many current "
            "values (skills, pets), so a new value adds instead of replacing."
        ),
    ] = False
    valid_from: Annotated[
        datetime | None, Field(description="When it started to hold; defaults to now.")
    ] = None

    def to_proto(self) -> pb.FactInput:
        """The AddMemories input for this fact."""
        return pb.FactInput(
            content=self.content,
            slot=self.slot,
            value=self.value,
            category=self.category,
            temporal_state=STATES[self.state],
            polarity=memory_pb2.POLARITY_NEGATIVE if self.negated else memory_pb2.POLARITY_POSITIVE,
            essential=self.essential,
            retract=self.retract,
            slot_cardinality=(
                pb.SLOT_CARDINALITY_MULTI if self.multi_valued else pb.SLOT_CARDINALITY_UNSPECIFIED
            ),
            valid_from_time=timestamp(self.valid_from),
        )


class Memory(BaseModel):
    """One thing Mémoire knows about the user: a stored message (episode) or a fact."""

    id: str
    kind: str = Field(description="episode or fact")
    content: str
    slot: str = ""
    value: str = ""
    category: str = ""
    state: str = Field("", description="current, past or planned (facts only)")
    negated: bool = False
    current: bool = Field(description="True while it holds now: not superseded, past or planned")
    confidence: float
    essential: bool = False
    valid_from: datetime | None = None
    valid_to: datetime | None = Field(None, description="When it stopped holding, if it did")
    superseded_by: str = Field("", description="The memory that replaced it, if any")
    session_id: str = ""
    source_message_ids: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, memory: memory_pb2.Memory) -> "Memory":
        """The shape of a Memory protobuf."""
        return cls(
            **copied(memory, MEMORY_AS_IS),
            kind=enum_word(memory_pb2.MemoryKind.Name(memory.kind), "MEMORY_KIND_"),
            state=enum_word(
                memory_pb2.TemporalState.Name(memory.temporal_state), "TEMPORAL_STATE_"
            ),
            negated=memory.polarity == memory_pb2.POLARITY_NEGATIVE,
            confidence=round(memory.confidence, 4),
            valid_from=moment(memory, "valid_from_time"),
            valid_to=moment(memory, "valid_to_time"),
            source_message_ids=list(memory.source_message_ids),
        )


class Remembered(BaseModel):
    """What `remember` stored."""

    stored: Literal["message", "fact"]
    outcome: str = Field(
        description="For a fact: created, refreshed, retracted, or unmatched (nothing stored). "
        "For a message, the state of its fact extraction (pending, or skipped when no LLM is "
        "configured: the message is recallable either way), or duplicate"
    )
    reason: str = Field("", description="Why a retraction matched nothing")
    memory: Memory | None = Field(None, description="The fact that now holds, for a fact")
    message_id: str = Field("", description="The stored message, for a message")
    extraction_id: str = Field("", description="The job distilling facts from the message")


class Hit(BaseModel):
    """One recalled memory and its final ranking score."""

    memory: Memory
    score: float


class Recalled(BaseModel):
    """The memories most relevant to the query, best first."""

    hits: list[Hit]


class Conscious(BaseModel):
    """The user's essentials: a block ready for a system prompt, and the facts behind it."""

    prompt_block: str
    memories: list[Memory]


class Event(BaseModel):
    """One entry of a memory's history."""

    memory_id: str
    type: str = Field(description="created, refreshed, superseded, decayed, promoted, deleted…")
    cause: str
    related_memory_id: str = Field("", description="The other memory involved (the replacement)")
    slot: str = ""
    confidence_before: float
    confidence_after: float
    time: datetime | None

    @classmethod
    def of(cls, event: memory_pb2.MemoryEvent) -> "Event":
        """The shape of a MemoryEvent protobuf."""
        return cls(
            **copied(event, EVENT_AS_IS),
            type=enum_word(memory_pb2.MemoryEventType.Name(event.type), "MEMORY_EVENT_TYPE_"),
            confidence_before=round(event.confidence_before, 4),
            confidence_after=round(event.confidence_after, 4),
            time=moment(event, "create_time"),
        )


class History(BaseModel):
    """Why a memory is believed: its events and those of the memories it replaced or that
    replaced it, oldest first."""

    events: list[Event]
    next_page_token: str = Field(
        "", description="Pass back as page_token for more; empty at the end"
    )


class Forgotten(BaseModel):
    """The memory deleted as a correction."""

    memory_id: str

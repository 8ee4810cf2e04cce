"""Plain values the core takes and returns; adapters translate them to and from the wire."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from memoire_core.slots import Cardinality

# Belief in a fact nobody rated, taken as the caller's word; the default of the setting
# direct_fact_confidence, which AddMemories applies (extracted facts have their own, lower).
DIRECT_FACT_CONFIDENCE = 0.9
# A stored message is what was said: nothing about it is uncertain.
EPISODE_CONFIDENCE = 1.0
# Hits of a query; the default of the setting a Recall asking 0 takes (default_recall_limit).
DEFAULT_RECALL_LIMIT = 10


class Kind(StrEnum):
    """Episode (a stored message) or fact (a distilled statement)."""

    EPISODE = "episode"
    FACT = "fact"


class Temporal(StrEnum):
    """When a fact holds relative to when it was said."""

    CURRENT = "current"
    PAST = "past"
    PLANNED = "planned"


class Role(StrEnum):
    """Who said a message."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


class Scope(StrEnum):
    """Whom an API key may act for."""

    APP = "app"
    USER = "user"


class JobState(StrEnum):
    """Where an extraction job stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class EventType(StrEnum):
    """What happened to a memory."""

    CREATED = "created"
    REFRESHED = "refreshed"
    SUPERSEDED = "superseded"
    DECAYED = "decayed"
    PROMOTED = "promoted"
    DELETED = "deleted"
    RETRACTED = "retracted"
    DEMOTED = "demoted"
    RESTORED = "restored"


class FactOutcome(StrEnum):
    """What writing one fact did."""

    CREATED = "created"
    REFRESHED = "refreshed"
    RETRACTED = "retracted"
    UNMATCHED = "unmatched"


@dataclass(frozen=True)
class FactResult:
    """What writing one fact did, and to which memory (none for an unmatched retraction)."""

    outcome: FactOutcome
    memory_id: uuid.UUID | None
    content: str
    slot: str
    value: str
    reason: str = ""


@dataclass(frozen=True)
class Principal:
    """The caller, as its API key describes it."""

    key_id: str
    app_id: uuid.UUID
    scope: Scope
    user_id: uuid.UUID | None = None
    user_external_id: str | None = None
    # The user the call names, looked up with the key in the same round trip: its external
    # id and internal id (None when the app has no such user). None when nobody was named.
    named: "tuple[str, uuid.UUID | None] | None" = None
    # When the key stops working (its expiry, or a revocation set for later); None: never.
    valid_until: datetime | None = None


@dataclass(frozen=True)
class UserRef:
    """A user of an app: internal id and the app's own id for it."""

    id: uuid.UUID
    external_id: str


@dataclass(frozen=True)
class UserView:
    """A user as an export shows it."""

    external_id: str
    metadata: dict[str, str]
    created_at: datetime


@dataclass(frozen=True)
class KeyView:
    """An API key as callers see it: never its secret or hash."""

    key_id: str
    scope: Scope
    user_external_id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class SessionView:
    """A session as callers see it."""

    external_id: str
    user_external_id: str
    created: bool
    created_at: datetime
    metadata: dict[str, str]


@dataclass(frozen=True)
class MessageView:
    """A stored message as an export shows it."""

    id: uuid.UUID
    session_external_id: str
    role: Role
    content: str
    client_message_id: str
    said_at: datetime
    metadata: dict[str, str]


@dataclass(frozen=True)
class MessageIn:
    """One message to ingest."""

    role: Role
    content: str
    client_message_id: str | None = None
    said_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FactIn:
    """One fact to write directly."""

    content: str
    category: str = ""
    slot: str = ""
    temporal: Temporal = Temporal.CURRENT
    confidence: float = DIRECT_FACT_CONFIDENCE
    essential: bool = False
    valid_from: datetime | None = None
    language: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    source_message_ids: tuple[uuid.UUID, ...] = ()
    # The slot's value alone ("Dallas"); restatements and retractions compare it.
    value: str = ""
    # True when the user takes the statement back ("I no longer play chess").
    retract: bool = False
    # True when the user denies the statement ("not allergic to peanuts").
    negated: bool = False
    # The caller's word on a slot the registry does not know; None leaves it single-valued.
    cardinality: Cardinality | None = None


@dataclass
class MemoryView:
    """A memory as callers see it."""

    id: uuid.UUID
    user_external_id: str
    kind: Kind
    content: str
    category: str
    slot: str
    temporal: Temporal | None
    confidence: float
    essential: bool
    language: str
    source_message_ids: list[uuid.UUID]
    session_external_id: str
    role: Role | None
    valid_from: datetime
    valid_to: datetime | None
    created_at: datetime
    superseded_at: datetime | None
    superseded_by: uuid.UUID | None
    last_refreshed_at: datetime
    metadata: dict[str, str]
    value: str = ""
    negated: bool = False

    @property
    def live(self) -> bool:
        """True while nothing retired or ended the memory (a plan may be live, never current)."""
        return is_live(self.superseded_at, self.valid_to)

    @property
    def current(self) -> bool:
        """True while the memory is the live view of the world: not past, not only planned."""
        return is_current(self.superseded_at, self.valid_to, self.temporal)


def is_live(superseded_at: datetime | None, valid_to: datetime | None) -> bool:
    """Whether nothing retired or ended a memory (a plan may be live, never current)."""
    return superseded_at is None and valid_to is None


def is_current(
    superseded_at: datetime | None, valid_to: datetime | None, temporal: Temporal | None
) -> bool:
    """Whether a memory holds now: live, and neither about the past nor only planned (an
    episode has no temporal state). The SQL form is ``db.repos.clauses.current_clause``."""
    return is_live(superseded_at, valid_to) and temporal in (None, Temporal.CURRENT)


@dataclass(frozen=True)
class Score:
    """How a recall hit was ranked."""

    vector: float = 0.0
    full_text: float = 0.0
    trigram: float = 0.0
    fused: float = 0.0
    confidence_weight: float = 1.0
    recency_weight: float = 1.0
    final: float = 0.0


@dataclass(frozen=True)
class Hit:
    """One recalled memory with its score."""

    memory: MemoryView
    score: Score


@dataclass(frozen=True, slots=True)
class MemoryEvent:
    """One change to a memory, for the log: what happened, why, and what it touched."""

    user_id: uuid.UUID
    memory_id: uuid.UUID
    type: EventType
    cause: str
    slot: str = ""
    extraction_id: uuid.UUID | None = None
    related_memory_id: uuid.UUID | None = None
    confidence_before: float | None = None
    confidence_after: float | None = None


@dataclass(frozen=True)
class EventView:
    """One entry of a memory's history."""

    id: uuid.UUID
    memory_id: uuid.UUID
    type: EventType
    cause: str
    related_memory_id: uuid.UUID | None
    extraction_id: uuid.UUID | None
    slot: str
    confidence_before: float | None
    confidence_after: float | None
    created_at: datetime


@dataclass(frozen=True)
class JobView:
    """An extraction job and the facts it produced."""

    id: uuid.UUID
    user_external_id: str
    session_external_id: str
    state: JobState
    reason: str
    message_ids: list[uuid.UUID]
    facts: list[MemoryView]
    attempts: int
    model: str
    prompt_tokens: int
    completion_tokens: int
    llm_latency_ms: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # Retractions the model found that matched no current fact; nothing was stored for them.
    unmatched: list[FactResult] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RecallQuery:
    """What Recall is asked, from the request down to the SQL that ranks: the text, how many
    hits, and the filters (a query with no text filters alone)."""

    text: str = ""
    limit: int = DEFAULT_RECALL_LIMIT
    kinds: frozenset[Kind] = frozenset()
    categories: frozenset[str] = frozenset()
    current_only: bool = False
    as_of: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    session_external_id: str | None = None
    # The session resolved to its internal id; set once the user's session is looked up.
    session_id: uuid.UUID | None = None


@dataclass(frozen=True)
class IngestResult:
    """What Ingest stored."""

    message_ids: list[uuid.UUID]
    extraction_id: uuid.UUID | None
    extraction_state: JobState | None
    duplicate_count: int
    created_message_ids: list[uuid.UUID]

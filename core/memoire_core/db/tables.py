"""The schema as SQLAlchemy Core tables; Alembic migrations create exactly this.

Every table that holds user data carries ``user_id`` and every index leads with it,
so a query is always scoped to one user and the schema can be sharded by user.
"""

from pgvector.sqlalchemy import HALFVEC
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

NOW = text("now()")


def _tz(name: str, *, nullable: bool = True, default_now: bool = False) -> Column[object]:
    return Column(
        name,
        DateTime(timezone=True),
        nullable=nullable,
        server_default=NOW if default_now else None,
    )


def _id() -> Column[object]:
    return Column("id", UUID(as_uuid=True), primary_key=True)


def _owner(*, primary_key: bool = False) -> Column[object]:
    """The user a row belongs to; erasing the user erases the row."""
    return Column(
        "user_id",
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def _app_owner() -> Column[object]:
    """The app a row belongs to; deleting the app deletes the row."""
    return Column(
        "app_id", UUID(as_uuid=True), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    )


def _metadata() -> Column[object]:
    return Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb"))


apps = Table(
    "apps",
    metadata,
    _id(),
    Column("name", String(128), nullable=False, unique=True),
    _tz("created_at", nullable=False, default_now=True),
)

users = Table(
    "users",
    metadata,
    _id(),
    _app_owner(),
    Column("external_id", String(128), nullable=False),
    _metadata(),
    _tz("created_at", nullable=False, default_now=True),
    UniqueConstraint("app_id", "external_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    # The public part of the key, used to find the row in one indexed lookup.
    Column("key_id", String(32), nullable=False, unique=True),
    _app_owner(),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")),
    Column("scope", String(8), nullable=False),
    Column("name", String(128), nullable=False, server_default=""),
    Column("secret_hash", LargeBinary, nullable=False),
    _tz("created_at", nullable=False, default_now=True),
    _tz("expires_at"),
    _tz("revoked_at"),
    CheckConstraint("scope IN ('app', 'user')", name="scope"),
    CheckConstraint("(scope = 'user') = (user_id IS NOT NULL)", name="user_scope_has_user"),
)

sessions = Table(
    "sessions",
    metadata,
    _id(),
    _owner(),
    Column("external_id", String(128), nullable=False),
    _metadata(),
    _tz("created_at", nullable=False, default_now=True),
    UniqueConstraint("user_id", "external_id"),
)

messages = Table(
    "messages",
    metadata,
    _id(),
    _owner(),
    Column(
        "session_id",
        UUID(as_uuid=True),
        ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("client_message_id", String(128)),
    _metadata(),
    Column("extraction_id", UUID(as_uuid=True)),
    _tz("said_at", nullable=False),
    _tz("created_at", nullable=False, default_now=True),
    CheckConstraint("role IN ('user', 'assistant', 'system', 'tool')", name="role"),
    Index("ix_messages_user_id_session_id_said_at", "user_id", "session_id", "said_at"),
    Index(
        "uq_messages_user_id_client_message_id",
        "user_id",
        "client_message_id",
        unique=True,
        postgresql_where=text("client_message_id IS NOT NULL"),
    ),
)

memories = Table(
    "memories",
    metadata,
    _id(),
    _owner(),
    Column("kind", String(8), nullable=False),
    Column("content", Text, nullable=False),
    Column("category", String(64), nullable=False, server_default=""),
    Column("slot", String(128), nullable=False, server_default=""),
    Column("temporal_state", String(8)),
    Column("confidence", Float, nullable=False),
    # Confidence when last stated or refreshed; decay recomputes ``confidence`` from it.
    Column("base_confidence", Float, nullable=False),
    # The slot's value alone ("Dallas" for "Lives in Dallas"); dedup and retraction compare it.
    Column("value", Text, nullable=False, server_default=""),
    # True for a denial ("not allergic to peanuts"): its own state, never merged with the claim.
    Column("negated", Boolean, nullable=False, server_default=text("false")),
    Column("essential", Boolean, nullable=False, server_default=text("false")),
    Column("language", String(16), nullable=False, server_default=""),
    Column("source_message_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
    Column("session_id", UUID(as_uuid=True), ForeignKey("sessions.id", ondelete="SET NULL")),
    # For an episode, the message it stores; unique so a message has one episode.
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE")),
    Column("role", String(16)),
    _metadata(),
    _tz("valid_from", nullable=False),
    _tz("valid_to"),
    _tz("created_at", nullable=False, default_now=True),
    _tz("superseded_at"),
    Column("superseded_by", UUID(as_uuid=True)),
    _tz("last_refreshed_at", nullable=False),
    # The embedding model that produced this memory's vector; NULL while one is owed.
    Column("embedded_with", String(128)),
    Column(
        "content_tsv",
        TSVECTOR,
        Computed("to_tsvector('english', content)", persisted=True),
        nullable=False,
    ),
    CheckConstraint("kind IN ('episode', 'fact')", name="kind"),
    CheckConstraint(
        "temporal_state IS NULL OR temporal_state IN ('current', 'past', 'planned')",
        name="temporal_state",
    ),
    CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
    Index("ix_memories_user_id_created_at_id", "user_id", text("created_at DESC"), text("id DESC")),
    Index(
        "ix_memories_user_id_slot_current",
        "user_id",
        "slot",
        postgresql_where=text("superseded_at IS NULL AND valid_to IS NULL AND slot <> ''"),
    ),
    Index(
        "ix_memories_user_id_essential",
        "user_id",
        postgresql_where=text("essential AND superseded_at IS NULL AND valid_to IS NULL"),
    ),
    Index("uq_memories_message_id", "message_id", unique=True),
    # Full text through the user's own posting lists (the function is the migration's).
    Index(
        "ix_memories_user_lexemes",
        text("memoire_user_lexemes(user_id, content_tsv)"),
        postgresql_using="gin",
    ),
    Index(
        "ix_memories_embedding_owed",
        "created_at",
        postgresql_where=text("embedded_with IS NULL"),
    ),
)

memory_embeddings = Table(
    "memory_embeddings",
    metadata,
    Column(
        "memory_id",
        UUID(as_uuid=True),
        ForeignKey("memories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("model", String(128), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("dimensions", Integer, nullable=False),
    # Half precision: half the space at no measurable recall cost for unit vectors. Unsized on
    # purpose: each model gets its own partial HNSW index on a cast of this column.
    Column("embedding", HALFVEC(), nullable=False),
    _tz("created_at", nullable=False, default_now=True),
    Index("ix_memory_embeddings_user_id_model", "user_id", "model"),
)

memory_events = Table(
    "memory_events",
    metadata,
    _id(),
    _owner(),
    # No foreign key: the log outlives a deleted memory and says why it is gone.
    Column("memory_id", UUID(as_uuid=True), nullable=False),
    Column("type", String(16), nullable=False),
    Column("cause", Text, nullable=False, server_default=""),
    Column("related_memory_id", UUID(as_uuid=True)),
    Column("extraction_id", UUID(as_uuid=True)),
    Column("slot", String(128), nullable=False, server_default=""),
    Column("confidence_before", Float),
    Column("confidence_after", Float),
    _tz("created_at", nullable=False, default_now=True),
    Index("ix_memory_events_user_id_memory_id_created_at", "user_id", "memory_id", "created_at"),
)

extraction_jobs = Table(
    "extraction_jobs",
    metadata,
    _id(),
    _owner(),
    Column("session_id", UUID(as_uuid=True), ForeignKey("sessions.id", ondelete="CASCADE")),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("message_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
    Column("fact_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # "host:pid" of the worker running the job, so a restarted worker can tell it died.
    Column("runner", String(128), nullable=False, server_default=""),
    Column("model", String(128), nullable=False, server_default=""),
    Column("prompt_tokens", BigInteger, nullable=False, server_default="0"),
    Column("completion_tokens", BigInteger, nullable=False, server_default="0"),
    Column("llm_latency_ms", BigInteger, nullable=False, server_default="0"),
    # Retractions the model found that matched no current fact: [{content, slot, value, reason}].
    Column("unmatched", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    _tz("created_at", nullable=False, default_now=True),
    _tz("started_at"),
    _tz("finished_at"),
    CheckConstraint(
        "state IN ('pending', 'running', 'succeeded', 'failed', 'skipped')", name="state"
    ),
    Index("ix_extraction_jobs_user_id_created_at", "user_id", "created_at"),
    Index(
        "ix_extraction_jobs_unfinished",
        "created_at",
        postgresql_where=text("state IN ('pending', 'running')"),
    ),
)

idempotent_writes = Table(
    "idempotent_writes",
    metadata,
    _owner(primary_key=True),
    Column("method", String(64), primary_key=True),
    Column("request_id", String(128), primary_key=True),
    Column("result_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
    # What each input did (a FactOutcome name per input); an unmatched input has no result id.
    Column("outcomes", ARRAY(String(16)), nullable=False, server_default="{}"),
    _tz("created_at", nullable=False, default_now=True),
)

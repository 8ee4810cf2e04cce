"""Builds and runs the gRPC server: services, health, reflection and the background embedder."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import _async as aio_health  # the asyncio servicer (health.aio)
from grpc_health.v1 import health, health_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from memoire_adapters.cache import ConsciousCache
from memoire_adapters.embedding import make_embedder
from memoire_adapters.metrics import PrometheusMetrics
from memoire_core.config import Settings
from memoire_core.db.engine import make_engine, make_reader_factory
from memoire_core.ports import Embedder
from memoire_core.services.embedding import adopt_model, embed_owed, prepare_model
from memoire_core.unit_of_work import Effects, sessions_with_effects
from memoire_proto.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    memory_service_pb2,
    memory_service_pb2_grpc,
)
from memoire_server import reflection
from memoire_server.account_service import AccountService
from memoire_server.context import AppContext
from memoire_server.health import HealthProbe
from memoire_server.jobs import ExtractionQueue
from memoire_server.limits import AdmissionInterceptor, TrustedProxies
from memoire_server.malformed import MalformedRequestInterceptor
from memoire_server.memory_service import MemoryService
from memoire_server.ratelimit import RateLimiter
from memoire_server.telemetry import Telemetry, start_telemetry

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name,
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"].full_name,
)
EMBED_POLL_SECONDS = 2.0

# Keepalive: long ObserveChat turns sit idle while the LLM thinks, behind proxies and NATs
# that drop quiet connections. Clients may ping as often as every 5 s (gRPC's default would
# answer a ping every 10 s with GOAWAY too_many_pings after 30 s, cutting the stream), and
# the server pings idle connections itself, dropping one whose peer stays silent.
KEEPALIVE_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.http2.max_ping_strikes", 2),
]


@dataclass
class Running:
    """A started server: its port, and what must be closed when it stops."""

    server: grpc.aio.Server
    port: int
    app: AppContext
    engine: AsyncEngine
    health: aio_health.HealthServicer
    probe: HealthProbe
    embedder_task: asyncio.Task[None] | None
    telemetry: Telemetry | None = None

    async def stop(self, grace: float = 5.0) -> None:
        """Refuse new calls, let calls in flight finish within ``grace``, then close.

        Each step has a bound: a dependency that does not answer delays the exit, and is
        named in the log, but never keeps the process from ending.
        """
        await _bounded(self.probe.close(), "the health probe")
        await _bounded(self.health.enter_graceful_shutdown(), "the health service")
        await _bounded(self.server.stop(grace), "the gRPC server", grace + STEP_SECONDS)
        if self.embedder_task is not None:
            self.embedder_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await _bounded(self.embedder_task, "the background embedder")
        if self.app.conscious_cache is not None:
            await _bounded(self.app.conscious_cache.close(), "the Conscious cache")
        if self.app.limiter is not None:
            await _bounded(self.app.limiter.close(), "the rate limiter")
        await _bounded(self.engine.dispose(), "the database pool")
        if self.telemetry is not None:
            await _bounded(asyncio.to_thread(self.telemetry.close), "telemetry")


# How long one step of a shutdown may take before it is given up on.
STEP_SECONDS = 5.0


async def _bounded(step: Awaitable[Any], what: str, seconds: float = STEP_SECONDS) -> None:
    try:
        async with asyncio.timeout(seconds):
            await step
    except TimeoutError:
        log.warning("shutdown: %s did not close within %.0f s; going on without it", what, seconds)


async def start(settings: Settings, embedder: Embedder | None = None) -> Running:
    """Start serving on ``settings.grpc_host:grpc_port`` (port 0 picks one) and return at once."""
    if not settings.secret_key.get_secret_value():
        raise ValueError("MEMOIRE_SECRET_KEY must be set")
    # Parsed once, here: a typo fails the start, not a call.
    trusted_proxies = TrustedProxies.parse(settings.trusted_proxies)
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    cache = ConsciousCache(settings.redis_url) if settings.redis_url else None
    embed_wakeup = asyncio.Event()
    effects = Effects(
        cache=cache,
        jobs=ExtractionQueue(settings.redis_url) if settings.redis_url else None,
        metrics=PrometheusMetrics(),
        vectors_owed=embed_wakeup.set,
    )
    sessions = sessions_with_effects(engine, effects)
    if embedder is None:
        embedder = make_embedder(settings)
    indexed = await prepare_model(sessions, embedder, index=settings.vector_index == "hnsw")
    await adopt_model(sessions, embedder)
    if settings.vector_index == "hnsw" and not indexed:
        settings = settings.model_copy(update={"vector_index": "none"})
    app = AppContext(
        settings=settings,
        sessions=sessions,
        embedder=embedder,
        server_secret=settings.secret_key.get_secret_value().encode(),
        trusted_proxies=trusted_proxies,
        conscious_cache=cache,
        embed_wakeup=embed_wakeup,
        limiter=RateLimiter(settings.redis_url, settings) if settings.redis_url else None,
        readers=make_reader_factory(engine),
    )
    telemetry = start_telemetry(settings)
    # Telemetry first: it sees, counts and gives a request id to every call, refused ones too.
    interceptors: list[grpc.aio.ServerInterceptor[Any, Any]] = telemetry.interceptors()
    interceptors.append(MalformedRequestInterceptor())
    if app.limiter is not None:
        interceptors.append(AdmissionInterceptor(app.limiter, trusted_proxies))

    max_bytes = settings.grpc_max_message_bytes
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", max_bytes),
            ("grpc.max_send_message_length", max_bytes),
            # Room for what Envoy forwards under its own 16 KiB header limit.
            ("grpc.max_metadata_size", 64 * 1024),
            ("grpc.so_reuseport", 0),
            *KEEPALIVE_OPTIONS,
        ],
    )
    memory_service_pb2_grpc.add_MemoryServiceServicer_to_server(MemoryService(app), server)
    account_service_pb2_grpc.add_AccountServiceServicer_to_server(AccountService(app), server)
    health_servicer = aio_health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable(server, (*SERVICE_NAMES, health.SERVICE_NAME))
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    credentials = server_credentials(settings)
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if settings.grpc_unix_socket:
        # For a proxy on this machine: only processes that may open the file can connect,
        # which is what lets MEMOIRE_TRUSTED_PROXIES=unix believe its x-forwarded-for.
        Path(settings.grpc_unix_socket).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        server.add_insecure_port(f"unix:{settings.grpc_unix_socket}")
    probe = HealthProbe(
        health_servicer,
        SERVICE_NAMES,
        settings.database_url,
        settings.redis_url,
        settings.health_probe_seconds,
    )
    await probe.start()  # the first statuses are known before the port opens
    try:
        await server.start()
    except BaseException:
        await probe.close()
        raise
    task = None
    if settings.embed_in_server:
        task = asyncio.create_task(_embed_forever(app), name="memoire-embedder")
    log.info("Mémoire gRPC listening on %s:%d", settings.grpc_host, port)
    return Running(server, port, app, engine, health_servicer, probe, task, telemetry)


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials when a certificate and key are configured; None for plaintext."""
    if not settings.tls_cert_file and not settings.tls_key_file:
        return None
    if not settings.tls_cert_file or not settings.tls_key_file:
        raise ValueError("MEMOIRE_TLS_CERT_FILE and MEMOIRE_TLS_KEY_FILE must be set together")
    pair = (Path(settings.tls_key_file).read_bytes(), Path(settings.tls_cert_file).read_bytes())
    client_ca = settings.tls_client_ca_file
    return grpc.ssl_server_credentials(
        [pair],
        root_certificates=Path(client_ca).read_bytes() if client_ca else None,
        require_client_auth=bool(client_ca),
    )


async def _embed_forever(app: AppContext) -> None:
    """Give new memories their vectors; woken by writes, and polling for other processes' rows."""
    assert app.embedder is not None
    batch = app.settings.embed_batch_size
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(app.embed_wakeup.wait(), EMBED_POLL_SECONDS)
        app.embed_wakeup.clear()
        try:
            while await embed_owed(app.sessions, app.embedder, batch) > 0:
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("background embedding failed; will retry", exc_info=True)
            await asyncio.sleep(EMBED_POLL_SECONDS)


async def serve(settings: Settings) -> None:
    """Run until cancelled or terminated."""
    running = await start(settings)
    try:
        await running.server.wait_for_termination()
    finally:
        await running.stop()

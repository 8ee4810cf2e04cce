"""``memoire up``: the whole service on this machine, kept running until Ctrl-C."""

import asyncio
import contextlib
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from memoire_adapters import logs
from memoire_cli import calls, migrate
from memoire_cli.failures import EXIT_PORT_IN_USE, Failure, fail, port_in_use
from memoire_core.config import Settings
from memoire_stack import services, supervise
from memoire_stack.children import Service
from memoire_stack.envoy import LocalEnvoy
from memoire_stack.inspector import InspectorServer
from memoire_stack.local import Stack, child_env

# The app `memoire up` makes its key for, and the one the admin commands default to.
LOCAL_APP = "local"


def _for_console(settings: Settings) -> Settings:
    """`memoire up` is read by a person: text logs, unless MEMOIRE_LOG_FORMAT asks otherwise."""
    if "log_format" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"log_format": "text"})


async def _local_key(settings: Settings) -> str:
    """The local app's key: made on first start, kept in the data directory."""
    path = settings.data_dir / "local_api_key"
    if path.exists():
        return path.read_text().strip()
    from memoire_core.db.engine import make_engine, make_session_factory  # noqa: PLC0415
    from memoire_core.services.accounts import create_app_with_key  # noqa: PLC0415

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as db, db.begin():
            new = await create_app_with_key(
                db, settings.secret_key.get_secret_value().encode(), LOCAL_APP, "local stack"
            )
    finally:
        await engine.dispose()
    path.write_text(new.secret)
    path.chmod(0o600)
    return new.secret


@click.command()
@click.option("--port", type=int, default=None, help="gRPC port (default 50051).")
@click.option(
    "--servers",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="gRPC servers behind Envoy: this process and N-1 children on Unix sockets.",
)
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Celery workers; the first also runs the periodic scheduler.",
)
@click.option("--no-worker", is_flag=True, help="Do not start a Celery worker (--workers 0).")
@click.option(
    "--http-port",
    type=int,
    default=None,
    help="JSON/HTTP and gRPC-web port of the local Envoy (default: a free one, kept).",
)
@click.option("--no-http", is_flag=True, help="Do not start Envoy (JSON/HTTP and gRPC-web).")
def up(
    port: int | None,
    servers: int,
    workers: int,
    no_worker: bool,
    http_port: int | None,
    no_http: bool,
) -> None:
    """Run everything locally: Postgres, Redis, migrations, servers, workers and Envoy.

    A process of the stack that dies is started again; none outlives this command.
    """
    if servers > 1 and no_http:
        raise click.UsageError("--servers above 1 needs Envoy in front of them: drop --no-http")
    base = _for_console(Settings())
    if port is not None:
        base = base.model_copy(update={"grpc_port": port})
    sockets: list[Path] = []
    if not no_http:
        # Envoy reaches every server on a Unix socket of the stack's own, and only callers
        # there have their x-forwarded-for believed: a client on the gRPC port cannot forge
        # one to dodge the failed-auth guard or to get someone else throttled.
        folder = services.socket_dir(base.data_dir)
        sockets = [folder / f"grpc-{n}.sock" for n in range(1, servers + 1)]
        trusted = ",".join(filter(None, (base.trusted_proxies, "unix")))
        base = base.model_copy(
            update={"grpc_unix_socket": str(sockets[0]), "trusted_proxies": trusted}
        )
    logs.configure(base)
    try:
        # Held until this process ends, however it ends: a second `up` on the same data
        # would share its Postgres and fight over its ports.
        lock = supervise.hold_lock(base.data_dir / "up.lock")
    except supervise.AlreadyRunning as error:
        fail(Failure(str(error), EXIT_PORT_IN_USE))
    watchdog = supervise.Watchdog()
    watchdog.start()
    stack = Stack(watchdog)
    try:
        settings = stack.complete(base)
        migrate.upgrade(settings.database_url)
        key = asyncio.run(_local_key(settings))
        env = {**child_env(settings), "MEMOIRE_TRUSTED_PROXIES": settings.trusted_proxies}
        for number in range(1, (0 if no_worker else workers) + 1):
            worker = services.worker(env, name=services.worker_name(number), beat=number == 1)
            worker.start()
            stack.add(worker)
        for number, path in enumerate(sockets[1:], start=2):
            extra = services.server(env, path, name=f"server-{number}")
            extra.start()
            stack.add(extra)
        http = None if no_http else http_port or 0
        scale = Scale(servers, 0 if no_worker else workers, tuple(sockets))
        asyncio.run(_serve_and_announce(settings, key, http, scale, stack, watchdog))
    except Failure as failure:
        fail(failure)
    finally:
        stack.stop()
        watchdog.close()
        lock.close()


@dataclass(frozen=True)
class Scale:
    """How many servers and workers `up` runs, and the servers' sockets (none without Envoy)."""

    servers: int
    workers: int
    sockets: tuple[Path, ...]


async def _start_envoy(
    settings: Settings, sockets: tuple[Path, ...], http_port: int, inspector_port: int
) -> LocalEnvoy:
    """Envoy in front of the servers and the inspector's pages; port 0 reuses the last run's
    port, or takes a free one."""
    port_file = settings.data_dir / "envoy.port"
    remembered = int(port_file.read_text()) if not http_port and port_file.exists() else 0
    proxy = LocalEnvoy(
        settings.data_dir / "envoy",
        port=http_port or remembered,
        grpc_sockets=sockets,
        inspector_port=inspector_port,
    )
    try:
        await asyncio.to_thread(proxy.start)
    except RuntimeError:
        if http_port and not services.port_is_free(http_port):
            raise port_in_use("HTTP", http_port, "--http-port") from None
        if not remembered:
            raise
        proxy.port = 0  # the port of the last run is taken now
        await asyncio.to_thread(proxy.start)
    port_file.write_text(str(proxy.port))
    return proxy


async def _start_server(settings: Settings) -> Any:
    """The gRPC server in this process; :class:`Failure` when its port is taken."""
    from memoire_server.app import start  # noqa: PLC0415 - the server's imports are heavy

    try:
        return await start(settings)
    except RuntimeError as error:
        if "bind" not in str(error).lower():
            raise
        raise port_in_use("gRPC", settings.grpc_port, "--port or MEMOIRE_GRPC_PORT") from None


def _announcement(
    settings: Settings, target: str, key: str, proxy: LocalEnvoy | None, scale: Scale
) -> str:
    http = f"{proxy.url}  (and gRPC-web and Connect, through Envoy)" if proxy else "off"
    pages_line = f"  Inspector: {proxy.url}/inspector/\n" if proxy else ""
    scale_line = (
        f"  Scaled:    {scale.servers} servers and {scale.workers} workers; gRPC through "
        f"Envoy at {proxy.url.removeprefix('http://')} reaches them all\n"
        if proxy and scale.servers > 1
        else ""
    )
    curl = (
        f'      curl -H \'x-api-key: {key}\' -d \'{{"user_id": "user-123", '
        f'"query": "Where do I live?"}}\' {proxy.url}/v1/recall\n'
        if proxy
        else ""
    )
    return (
        f"\nMémoire is up.\n"
        f"  gRPC:      {target}\n"
        f"  HTTP/JSON: {http}\n"
        f"{pages_line}"
        f"{scale_line}"
        f"  API key:   {key}  (kept in {settings.data_dir / 'local_api_key'})\n"
        f"  Postgres:  {settings.database_url}\n"
        f"  Redis:     {settings.redis_url}\n"
        f"Try:  .venv/bin/memoire ingest user-123 'I live in Austin, Texas now.'\n"
        f"      .venv/bin/memoire recall user-123 'Where do I live?'\n"
        f"{curl}"
        f"Stop with Ctrl-C.\n"
    )


async def _serve_and_announce(
    settings: Settings,
    key: str,
    http_port: int | None,
    scale: Scale,
    stack: Stack,
    watchdog: supervise.Watchdog,
) -> None:
    running = await _start_server(settings)
    target = calls.local_target(settings.grpc_host, running.port)
    proxy: LocalEnvoy | None = None
    pages: InspectorServer | None = None
    if http_port is not None:
        pages = InspectorServer()
        try:
            await asyncio.to_thread(pages.start)
            proxy = await _start_envoy(settings, scale.sockets, http_port, pages.port)
        except BaseException:
            pages.stop()
            await running.stop()
            raise
        watchdog.guard_service(proxy)
    # The CLI's default --target from now on (calls.default_target).
    target_file = settings.data_dir / calls.TARGET_FILE
    target_file.write_text(target)
    click.echo(_announcement(settings, target, key, proxy, scale))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    supervised: list[Service] = [*stack.services, *([proxy] if proxy else [])]
    supervised += [pages] if pages else []
    supervisor = supervise.Supervisor(supervised, watchdog)
    watching = asyncio.create_task(supervisor.run())
    try:
        await stop.wait()
        click.echo("Stopping ...")
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        target_file.unlink(missing_ok=True)
        if proxy is not None:
            await asyncio.to_thread(proxy.stop)
        if pages is not None:
            pages.stop()
        await running.stop()

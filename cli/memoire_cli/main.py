"""``memoire``: run the stack, administer apps, users and keys, and try the API from a shell."""

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from memoire_cli import calls, envoy, failures, inspector, localstack, migrate, supervise
from memoire_core import logs
from memoire_core.config import Settings
from memoire_core.errors import ConfigurationError

T = TypeVar("T")
LOCAL_APP = "local"


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _setup_logging(settings: Settings) -> None:
    logs.configure(settings)


def _for_console(settings: Settings) -> Settings:
    """`memoire up` is read by a person: text logs, unless MEMOIRE_LOG_FORMAT asks otherwise."""
    if "log_format" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"log_format": "text"})


@click.group()
def cli() -> None:
    """Mémoire, the memory engine for AI agents."""


def _fail(failure: failures.Failure) -> NoReturn:
    """Tell a failure in one line, as click tells a usage error, and exit with its code.

    The codes: 1 a failed call, 2 a bad command line (click's), 3 no server, 4 a refused
    key, 5 a port in use.
    """
    click.echo(f"Error: {failure}", err=True)
    raise SystemExit(failure.exit_code)


# --- running -------------------------------------------------------------------------------


def with_local_stack(
    settings: Settings, stack: list[Any], watchdog: supervise.Watchdog | None = None
) -> Settings:
    """Fill in whatever the settings leave empty from the embedded stack, starting it.

    With a ``watchdog``, each process is handed to it the moment it runs.
    """
    data = settings.data_dir
    updates: dict[str, Any] = {}
    if not settings.database_url:
        postgres = localstack.LocalPostgres(data / "postgres")
        updates["database_url"] = postgres.start()
        stack.append(postgres)
        if watchdog is not None:
            watchdog.guard_service(postgres)
        if not localstack.bundled_pgvector_can_index():
            updates["vector_index"] = "none"
    if not settings.redis_url:
        port_file = data / "redis.port"
        port = int(port_file.read_text()) if port_file.exists() else localstack.free_port()
        redis = localstack.LocalRedis(data / "redis", port)
        updates["redis_url"] = redis.start()
        port_file.write_text(str(redis.port))
        stack.append(redis)
        if watchdog is not None:
            watchdog.guard_service(redis)
    if not settings.secret_key.get_secret_value():
        from pydantic import SecretStr  # noqa: PLC0415

        updates["secret_key"] = SecretStr(localstack.local_secret(data))
    return settings.model_copy(update=updates)


def _env_for(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "MEMOIRE_DATABASE_URL": settings.database_url,
        "MEMOIRE_REDIS_URL": settings.redis_url,
        "MEMOIRE_SECRET_KEY": settings.secret_key.get_secret_value(),
        "MEMOIRE_VECTOR_INDEX": settings.vector_index,
        "MEMOIRE_LOG_FORMAT": settings.log_format,
    }


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


@cli.command()
@click.option("--port", type=int, default=None, help="gRPC port (default 50051).")
@click.option("--no-worker", is_flag=True, help="Do not start the Celery worker.")
@click.option(
    "--http-port",
    type=int,
    default=None,
    help="JSON/HTTP and gRPC-web port of the local Envoy (default: a free one, kept).",
)
@click.option("--no-http", is_flag=True, help="Do not start Envoy (JSON/HTTP and gRPC-web).")
def up(port: int | None, no_worker: bool, http_port: int | None, no_http: bool) -> None:
    """Run everything locally: Postgres, Redis, migrations, the server, a worker and Envoy.

    A process of the stack that dies is started again; none outlives this command.
    """
    base = _for_console(Settings())
    if port is not None:
        base = base.model_copy(update={"grpc_port": port})
    if not no_http and "trust_forwarded_for" not in base.model_fields_set:
        # The local Envoy sets x-forwarded-for to the client it saw (envoy/envoy.yaml): the
        # auth guard then throttles one bad client rather than everyone behind Envoy.
        base = base.model_copy(update={"trust_forwarded_for": True})
    _setup_logging(base)
    try:
        # Held until this process ends, however it ends: a second `up` on the same data
        # would share its Postgres and fight over its ports.
        lock = supervise.hold_lock(base.data_dir / "up.lock")
    except failures.Failure as failure:
        _fail(failure)
    watchdog = supervise.Watchdog()
    watchdog.start()
    stack: list[Any] = []
    try:
        settings = with_local_stack(base, stack, watchdog)
        migrate.upgrade(settings.database_url)
        key = _run(_local_key(settings))
        if not no_worker:
            worker = localstack.LocalWorker(_env_for(settings))
            worker.start()
            stack.append(worker)
            watchdog.guard_service(worker)
        _run(
            _serve_and_announce(settings, key, None if no_http else http_port or 0, stack, watchdog)
        )
    except failures.Failure as failure:
        _fail(failure)
    finally:
        for service in reversed(stack):
            service.stop()
        watchdog.close()
        lock.close()


def _port_in_use(what: str, port: int, option: str) -> failures.Failure:
    return failures.Failure(
        f"port {port} ({what}) is in use, perhaps by another `memoire up`: stop that, or "
        f"choose another port with {option}",
        failures.EXIT_PORT_IN_USE,
    )


async def _start_envoy(
    settings: Settings, grpc_port: int, http_port: int, inspector_port: int
) -> envoy.LocalEnvoy:
    """Envoy in front of the server and the inspector's pages; port 0 reuses the last run's
    port, or takes a free one."""
    port_file = settings.data_dir / "envoy.port"
    remembered = int(port_file.read_text()) if not http_port and port_file.exists() else 0
    proxy = envoy.LocalEnvoy(
        settings.data_dir / "envoy",
        grpc_port,
        port=http_port or remembered,
        grpc_host=settings.grpc_host,
        inspector_port=inspector_port,
    )
    try:
        await asyncio.to_thread(proxy.start)
    except RuntimeError:
        if http_port and not localstack.port_is_free(http_port):
            raise _port_in_use("HTTP", http_port, "--http-port") from None
        if not remembered:
            raise
        proxy.port = 0  # the port of the last run is taken now
        await asyncio.to_thread(proxy.start)
    port_file.write_text(str(proxy.port))
    return proxy


async def _start_server(settings: Settings) -> Any:
    from memoire_server.app import start  # noqa: PLC0415 - the server's imports are heavy

    try:
        return await start(settings)
    except RuntimeError as error:
        if "bind" not in str(error).lower():
            raise
        raise _port_in_use("gRPC", settings.grpc_port, "--port or MEMOIRE_GRPC_PORT") from None


async def _serve_and_announce(
    settings: Settings,
    key: str,
    http_port: int | None,
    stack: list[Any],
    watchdog: supervise.Watchdog,
) -> None:
    running = await _start_server(settings)
    target = calls.local_target(settings.grpc_host, running.port)
    proxy: envoy.LocalEnvoy | None = None
    pages: inspector.InspectorServer | None = None
    if http_port is not None:
        pages = inspector.InspectorServer()
        try:
            await asyncio.to_thread(pages.start)
            proxy = await _start_envoy(settings, running.port, http_port, pages.port)
        except BaseException:
            pages.stop()
            await running.stop()
            raise
        watchdog.guard_service(proxy)
    # The CLI's default --target from now on (calls.default_target).
    target_file = settings.data_dir / calls.TARGET_FILE
    target_file.write_text(target)
    http = f"{proxy.url}  (and gRPC-web and Connect, through Envoy)" if proxy else "off"
    pages_line = f"  Inspector: {proxy.url}/inspector/\n" if proxy else ""
    curl = (
        f'      curl -H \'x-api-key: {key}\' -d \'{{"user_id": "user-123", '
        f'"query": "Where do I live?"}}\' {proxy.url}/v1/recall\n'
        if proxy
        else ""
    )
    click.echo(
        f"\nMémoire is up.\n"
        f"  gRPC:      {target}\n"
        f"  HTTP/JSON: {http}\n"
        f"{pages_line}"
        f"  API key:   {key}  (kept in {settings.data_dir / 'local_api_key'})\n"
        f"  Postgres:  {settings.database_url}\n"
        f"  Redis:     {settings.redis_url}\n"
        f"Try:  .venv/bin/memoire ingest user-123 'I live in Austin, Texas now.'\n"
        f"      .venv/bin/memoire recall user-123 'Where do I live?'\n"
        f"{curl}"
        f"Stop with Ctrl-C.\n"
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    supervisor = supervise.Supervisor(
        [*stack, *([proxy] if proxy else []), *([pages] if pages else [])], watchdog
    )
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


@cli.command()
def serve() -> None:
    """Run the gRPC server against MEMOIRE_DATABASE_URL (or the local stack)."""
    from memoire_server.app import start  # noqa: PLC0415

    stack: list[Any] = []
    settings = with_local_stack(Settings(), stack)
    _setup_logging(settings)

    async def main() -> None:
        running = await start(settings)
        click.echo(f"Mémoire gRPC listening on {settings.grpc_host}:{running.port}", err=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await running.stop()

    try:
        _run(main())
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None
    finally:
        for service in reversed(stack):
            service.stop()


@cli.command()
@click.option("--beat", is_flag=True, help="Also run the periodic scheduler in this process.")
@click.option("--concurrency", type=int, default=1, show_default=True)
def worker(beat: bool, concurrency: int) -> None:
    """Run a Celery worker on MEMOIRE_REDIS_URL for extraction and maintenance."""
    from memoire_workers.celery_app import (  # noqa: PLC0415
        EXTRACTION_QUEUE,
        MAINTENANCE_QUEUE,
        make_celery,
    )

    stack: list[Any] = []
    settings = with_local_stack(Settings(), stack)
    app = make_celery(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # beat keeps its schedule there
    argv = [
        "worker",
        "--pool=solo" if concurrency == 1 else f"--concurrency={concurrency}",
        f"--queues={EXTRACTION_QUEUE},{MAINTENANCE_QUEUE}",
        f"--loglevel={settings.log_level}",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv += ["--beat", f"--schedule={settings.data_dir.resolve() / 'celerybeat-schedule'}"]
    try:
        app.worker_main(argv)
    finally:
        for service in reversed(stack):
            service.stop()


@cli.command(name="migrate")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--down", is_flag=True, help="Downgrade to the revision instead (e.g. base).")
def migrate_cmd(revision: str, down: bool) -> None:
    """Apply database migrations."""
    stack: list[Any] = []
    try:
        settings = with_local_stack(Settings(), stack)
        if down:
            migrate.downgrade(settings.database_url, revision)
        else:
            migrate.upgrade(settings.database_url, revision)
        click.echo(f"database at {revision}")
    finally:
        for service in reversed(stack):
            service.stop()


# --- administration ------------------------------------------------------------------------


def _admin(work: Callable[[Any, bytes], Awaitable[T]]) -> T:
    """Run ``work(db, server_secret)`` in one committed transaction."""
    from memoire_core.db.engine import make_engine, make_session_factory  # noqa: PLC0415

    stack: list[Any] = []
    settings = with_local_stack(Settings(), stack)

    async def main() -> T:
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            async with make_session_factory(engine)() as db, db.begin():
                return await work(db, settings.secret_key.get_secret_value().encode())
        finally:
            await engine.dispose()

    try:
        return _run(main())
    finally:
        for service in reversed(stack):
            service.stop()


@cli.group()
def key() -> None:
    """Manage API keys."""


@key.command(name="create")
@click.option("--app", "app_name", default=LOCAL_APP, show_default=True, help="App name.")
@click.option("--user", "user_id", default="", help="Make a key for this one user.")
@click.option("--name", default="", help="A label for the key.")
def key_create(app_name: str, user_id: str, name: str) -> None:
    """Issue a key (app-scoped unless --user); the secret is printed once."""
    from memoire_core.db.repos import accounts as repo  # noqa: PLC0415
    from memoire_core.domain import Scope  # noqa: PLC0415
    from memoire_core.services.accounts import issue_key  # noqa: PLC0415

    async def work(db: Any, secret: bytes) -> Any:
        app_id = await repo.get_or_create_app(db, app_name)
        user = None
        if user_id:
            user, _, _ = await repo.get_or_create_user(db, app_id, user_id)
        scope = Scope.USER if user else Scope.APP
        return await issue_key(db, secret, app_id, scope, user, name, None)

    new = _admin(work)
    click.echo(
        json.dumps(
            {
                "key_id": new.key.key_id,
                "scope": new.key.scope.value,
                "user_id": new.key.user_external_id,
                "secret": new.secret,
            }
        )
    )


@cli.group()
def user() -> None:
    """Manage users."""


@user.command(name="create")
@click.argument("user_id")
@click.option("--app", "app_name", default=LOCAL_APP, show_default=True, help="App name.")
def user_create(user_id: str, app_name: str) -> None:
    """Register USER_ID in an app."""
    from memoire_core.db.repos import accounts as repo  # noqa: PLC0415

    async def work(db: Any, _secret: bytes) -> bool:
        app_id = await repo.get_or_create_app(db, app_name)
        _, created, _ = await repo.get_or_create_user(db, app_id, user_id)
        return created

    created = _admin(work)
    click.echo(json.dumps({"user_id": user_id, "app": app_name, "created": created}))


# --- trying the API ------------------------------------------------------------------------


def _client_key(api_key: str | None) -> str:
    if api_key:
        return api_key
    path = Settings().data_dir / "local_api_key"
    if path.exists():
        return path.read_text().strip()
    raise click.UsageError("pass --api-key or set MEMOIRE_API_KEY (or run `memoire up` first)")


_target = click.option(
    "--target",
    envvar="MEMOIRE_TARGET",
    default=None,
    help="host:port of the gRPC server (env MEMOIRE_TARGET; default: the one `memoire up` "
    "started, else 127.0.0.1 and MEMOIRE_GRPC_PORT).",
)


def _client_target(target: str | None) -> str:
    if target:
        return target
    settings = Settings()
    return calls.default_target(settings.data_dir, settings.grpc_host, settings.grpc_port)


def _answer(call: Callable[[], str]) -> None:
    """Print a call's reply, or its failure in one line with the exit code scripts test."""
    try:
        click.echo(call())
    except failures.Failure as failure:
        _fail(failure)


_api_key = click.option("--api-key", envvar="MEMOIRE_API_KEY", default=None)


@cli.command()
@click.argument("user_id")
@click.argument("content")
@click.option("--session", default="", help="Session id (default: the user's default session).")
@click.option("--role", type=click.Choice(["user", "assistant"]), default="user")
@_target
@_api_key
def ingest(
    user_id: str, content: str, session: str, role: str, target: str | None, api_key: str | None
) -> None:
    """Store one message for USER_ID."""
    key, where = _client_key(api_key), _client_target(target)
    _answer(lambda: calls.ingest(where, key, user_id, session, role, content))


@cli.command()
@click.argument("user_id")
@click.argument("query")
@click.option("--limit", default=5, show_default=True)
@_target
@_api_key
def recall(user_id: str, query: str, limit: int, target: str | None, api_key: str | None) -> None:
    """Recall what USER_ID's memory holds about QUERY."""
    key, where = _client_key(api_key), _client_target(target)
    _answer(lambda: calls.recall(where, key, user_id, query, limit))


# --- evaluation ----------------------------------------------------------------------------


@cli.group(name="eval")
def eval_group() -> None:
    """Measure retrieval quality on public benchmarks."""


@eval_group.command(name="locomo")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the run here as JSON lines, one per QA item.",
)
@click.option("--target", default=None, help="A running server (default: an embedded stack).")
@_api_key
@click.option(
    "--user-prefix",
    default="locomo-",
    show_default=True,
    help="User ids are this prefix and the sample id.",
)
def eval_locomo(
    path: Path, out: Path | None, target: str | None, api_key: str | None, user_prefix: str
) -> None:
    """Ingest LoCoMo conversations, recall every question, print R@5/R@10/MRR beside BM25."""
    from memoire_cli import evaluation  # noqa: PLC0415

    if target and not api_key:
        raise click.UsageError("--target needs --api-key (or MEMOIRE_API_KEY): an app key")
    click.echo(evaluation.run_locomo(path, out, target, api_key, user_prefix))


# --- benchmarks ----------------------------------------------------------------------------


def _levels(_ctx: Any, _param: Any, value: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter("a comma-separated list of numbers, e.g. 1,16,64") from None
    if not levels or min(levels) < 1:
        raise click.BadParameter("each level must be at least 1")
    return levels


def _levels_or_none(_ctx: Any, _param: Any, value: str) -> tuple[int, ...]:
    """Like ``_levels`` but 0 is allowed (a group with no user)."""
    try:
        counts = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter("a comma-separated list of numbers, e.g. 50,20,5") from None
    if not counts or min(counts) < 0:
        raise click.BadParameter("each count must be at least 0")
    return counts


@cli.command()
@click.option("--memories", default=100_000, show_default=True, help="Memories to seed.")
@click.option("--users", default=1_000, show_default=True, help="Users they belong to.")
@click.option(
    "--concurrency",
    default="1,16,64",
    show_default=True,
    callback=_levels,
    help="Concurrent callers, per level.",
)
@click.option("--seconds", default=10.0, show_default=True, help="Measured time per level.")
@click.option("--warmup", default=2.0, show_default=True, help="Unmeasured time per level.")
@click.option("--samples", default=50, show_default=True, help="Samples of each delay.")
@click.option("--pool", default=1_024, show_default=True, help="Distinct embedded sentences.")
@click.option("--ingest-batch", default=1, show_default=True, help="Messages per Ingest call.")
@click.option("--seed", default=7, show_default=True, help="Seed of the corpus and workload.")
@click.option(
    "--history-sizes",
    default="100,1000,10000",
    show_default=True,
    callback=_levels,
    help="Memories per user of the users with LoCoMo-like histories, per group.",
)
@click.option(
    "--history-users",
    default="50,20,5",
    show_default=True,
    callback=_levels_or_none,
    help="Users of each history size (one number for all; 0 for none).",
)
@click.option(
    "--ingest-rate",
    default=200.0,
    show_default=True,
    help="Messages/s of the steady ingest load.",
)
@click.option(
    "--steady-seconds",
    default=30.0,
    show_default=True,
    help="Measured window of the steady ingest load.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the corpus here and reuse it next time (default: a temporary folder).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench/results"),
    show_default=True,
    help="Where <size>.json and <size>.md go.",
)
def bench(
    memories: int,
    users: int,
    concurrency: tuple[int, ...],
    seconds: float,
    warmup: float,
    samples: int,
    pool: int,
    ingest_batch: int,
    seed: int,
    history_sizes: tuple[int, ...],
    history_users: tuple[int, ...],
    ingest_rate: float,
    steady_seconds: float,
    data_dir: Path | None,
    out: Path,
) -> None:
    """Seed a corpus, then measure Recall, Conscious and Ingest through the gRPC server."""
    from memoire_cli.bench import Options, run  # noqa: PLC0415 - heavy imports
    from memoire_cli.bench.progress import Bars  # noqa: PLC0415

    if users < 1 or memories < 2 * users:
        raise click.UsageError("need at least one user and two memories per user")
    if len(history_users) == 1:
        history_users *= len(history_sizes)
    if len(history_users) != len(history_sizes):
        raise click.UsageError("--history-users: one number, or one per history size")
    if min(history_sizes) < 2 or ingest_rate <= 0 or steady_seconds <= 0:
        raise click.UsageError("history sizes ≥ 2, a positive ingest rate and steady window")
    options = Options(
        memories=memories,
        users=users,
        concurrency=concurrency,
        seconds=seconds,
        warmup=warmup,
        samples=samples,
        pool=pool,
        ingest_batch=ingest_batch,
        seed=seed,
        history_sizes=history_sizes,
        history_users=history_users,
        ingest_rate=ingest_rate,
        steady_seconds=steady_seconds,
        data_dir=data_dir,
        out_dir=out,
    )
    bars = Bars()
    try:
        _, json_path, md_path = run(options, bars)
    finally:
        bars.close()
    click.echo(md_path.read_text())
    click.echo(f"written: {json_path} and {md_path}", err=True)


# --- agents over MCP -----------------------------------------------------------------------

from memoire_cli.mcp_command import mcp  # noqa: E402 - registered here, beside the other commands

cli.add_command(mcp)


if __name__ == "__main__":
    cli()

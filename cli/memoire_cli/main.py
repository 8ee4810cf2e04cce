"""``memoire``: run the stack, administer apps, users and keys, and try the API from a shell."""

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from memoire_adapters import logs
from memoire_cli import calls, failures, migrate
from memoire_cli.bench_command import bench
from memoire_cli.eval_command import eval_group
from memoire_cli.mcp_command import mcp
from memoire_cli.up_command import LOCAL_APP, up
from memoire_core.config import Settings
from memoire_core.errors import ConfigurationError
from memoire_stack.local import completed

T = TypeVar("T")


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


@click.group()
def cli() -> None:
    """Mémoire, the memory engine for AI agents."""


for command in (up, eval_group, bench, mcp):
    cli.add_command(command)


# --- running -------------------------------------------------------------------------------


@cli.command()
def serve() -> None:
    """Run the gRPC server against MEMOIRE_DATABASE_URL (or the local stack)."""
    from memoire_server.app import start  # noqa: PLC0415

    async def main(settings: Settings) -> None:
        running = await start(settings)
        click.echo(f"Mémoire gRPC listening on {settings.grpc_host}:{running.port}", err=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await running.stop()

    with completed(Settings()) as settings:
        logs.configure(settings)
        try:
            _run(main(settings))
        except ConfigurationError as error:
            raise click.ClickException(str(error)) from None


@cli.command()
@click.option(
    "--beat",
    is_flag=True,
    help="Also run the periodic scheduler in this process (one per deployment; a scaled "
    "deployment runs `memoire scheduler` on its own instead).",
)
@click.option("--concurrency", type=int, default=1, show_default=True)
@click.option(
    "--name",
    default="celery",
    show_default=True,
    help="Node name (NAME@host): each worker on one host needs its own.",
)
def worker(beat: bool, concurrency: int, name: str) -> None:
    """Run a Celery worker on MEMOIRE_REDIS_URL for extraction and maintenance."""
    from memoire_core.task_contract import Queue  # noqa: PLC0415
    from memoire_workers.celery_app import make_celery  # noqa: PLC0415

    with completed(Settings()) as settings:
        app = make_celery(settings)
        argv = [
            "worker",
            "--pool=solo" if concurrency == 1 else f"--concurrency={concurrency}",
            f"--queues={','.join(Queue)}",
            f"--loglevel={settings.log_level}",
            f"--hostname={name}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            argv += ["--beat", f"--schedule={_beat_schedule(settings)}"]
        app.worker_main(argv)


def _beat_schedule(settings: Settings) -> Path:
    """Where the scheduler keeps when each periodic task last ran (in the data directory)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.data_dir.resolve() / "celerybeat-schedule"


@cli.command()
def scheduler() -> None:
    """Run only the periodic scheduler (Celery beat): exactly one per deployment, beside any
    number of `memoire worker` processes, which run what it queues."""
    from memoire_workers.celery_app import make_celery  # noqa: PLC0415

    with completed(Settings()) as settings:
        app = make_celery(settings)
        schedule = _beat_schedule(settings)
        app.start(["beat", f"--schedule={schedule}", f"--loglevel={settings.log_level}"])


@cli.command(name="migrate")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--down", is_flag=True, help="Downgrade to the revision instead (e.g. base).")
def migrate_cmd(revision: str, down: bool) -> None:
    """Apply database migrations."""
    with completed(Settings()) as settings:
        if down:
            migrate.downgrade(settings.database_url, revision)
        else:
            migrate.upgrade(settings.database_url, revision)
        click.echo(f"database at {revision}")


# --- administration ------------------------------------------------------------------------


def _admin(work: Callable[[Any, bytes], Awaitable[T]]) -> T:
    """Run ``work(db, server_secret)`` in one committed transaction."""
    from memoire_core.db.engine import make_engine, make_session_factory  # noqa: PLC0415

    async def main(settings: Settings) -> T:
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            async with make_session_factory(engine)() as db, db.begin():
                return await work(db, settings.secret_key.get_secret_value().encode())
        finally:
            await engine.dispose()

    with completed(Settings()) as settings:
        return _run(main(settings))


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
        failures.fail(failure)


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


if __name__ == "__main__":
    cli()

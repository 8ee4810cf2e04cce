"""The stack a benchmark runs against: embedded Postgres and Redis, the server and a worker
as processes of their own (so their CPU and memory are theirs), and the instant LLM."""

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from memoire_stack.services import CliProcess, LocalServer, bundled_pgvector_can_index

UNLIMITED = "1000000000"
LIMITS = (
    "READS_PER_SECOND",
    "READS_BURST",
    "WRITES_PER_SECOND",
    "WRITES_BURST",
    "STREAMS_PER_SECOND",
    "STREAMS_BURST",
)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class MemoryWatch:
    """Samples a process's resident memory in the background and keeps the peak."""

    pid: int
    every: float = 0.25
    peak: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        """Stop sampling; returns the current resident memory."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        now = rss_mb(self.pid)
        self.peak = max(self.peak, now)
        return now


def service_env(
    database_url: str, redis_url: str, secret: str, data_dir: Path, llm_url: str, port: int
) -> dict[str, str]:
    """The environment of the server and worker processes."""
    return {
        **os.environ,
        "MEMOIRE_DATABASE_URL": database_url,
        "MEMOIRE_REDIS_URL": redis_url,
        "MEMOIRE_SECRET_KEY": secret,
        "MEMOIRE_DATA_DIR": str(data_dir),
        "MEMOIRE_GRPC_PORT": str(port),
        "MEMOIRE_LOG_LEVEL": "WARNING",
        "MEMOIRE_LLM_MODEL": "openai/bench-instant",
        "MEMOIRE_LLM_API_BASE": llm_url,
        "MEMOIRE_LLM_API_KEY": "bench",
        "MEMOIRE_VECTOR_INDEX": "hnsw" if bundled_pgvector_can_index() else "none",
        # The per-key limiter still runs (its cost is part of every call) but never refuses:
        # one key drives the whole load.
        **{f"MEMOIRE_RATE_LIMIT_{kind}": UNLIMITED for kind in LIMITS},
    }


def tail(process: CliProcess, lines: int = 30) -> str:
    """The last lines of a process's output."""
    if process.log is None:
        return ""
    try:
        return "\n".join(process.log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_server(server: LocalServer) -> int:
    """Start the server and wait until its health check answers SERVING; returns its pid.

    The error ends with the server's last lines of output: the log dies with a temporary
    scratch folder.
    """
    try:
        return server.start()
    except RuntimeError as failed:
        raise RuntimeError(f"{failed}:\n{tail(server)}") from failed

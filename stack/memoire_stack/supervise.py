"""Keep the local stack's processes alive while `memoire up` runs, and none after it ends.

Two halves:

- :class:`Supervisor` checks every process `memoire up` started (Postgres, Redis, the worker,
  Envoy) once a second and restarts one that died, with a log line.
- :class:`Watchdog` is a small process of its own (``python -m memoire_stack.supervise``) that
  `memoire up` tells about each process it starts through a pipe. When that pipe closes,
  because `up` ended in any way, SIGKILL included, the watchdog stops whatever is still
  running: nothing outlives `up`, and the next start does not run beside orphans.
"""

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from memoire_stack.children import Guarded, Service

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
# How long the watchdog lets a process stop after asking before it kills it.
GRACE_SECONDS = 10.0


@dataclass
class Watchdog:
    """The other end of the pipe: stops every guarded process when `memoire up` is gone."""

    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _pipe: IO[str] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        read, write = os.pipe()
        # A session of its own: Ctrl-C in the terminal and a kill of up's process group leave
        # it alone, to clean up after them.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "memoire_stack.supervise"],
            stdin=read,
            start_new_session=True,
        )
        os.close(read)
        self._pipe = os.fdopen(write, "w", buffering=1)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def guard(self, process: Guarded) -> None:
        if self._pipe is not None:
            self._pipe.write(process.line())

    def guard_service(self, service: Service) -> None:
        process = service.guarded()
        if process is not None:
            self.guard(process)

    def close(self) -> None:
        """`up` stopped everything itself: let the watchdog check and exit."""
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(GRACE_SECONDS + 5)
            self._process = None


def _signal(process: Guarded, sig: int) -> bool:
    """Send ``sig``; False when the process is gone already."""
    try:
        if process.group:
            os.killpg(process.pid, sig)
        else:
            os.kill(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _running(process: Guarded) -> bool:
    return _signal(process, 0)  # signal 0 only asks whether the process exists


def stop_all(processes: Iterable[Guarded], grace: float = GRACE_SECONDS) -> None:
    """Ask each process to stop, wait up to ``grace`` seconds, then kill what is left."""
    asked = [p for p in processes if _signal(p, p.stop_signal)]
    deadline = time.monotonic() + grace
    while asked and time.monotonic() < deadline:
        asked = [p for p in asked if _running(p)]
        time.sleep(0.1)
    for process in asked:
        _signal(process, signal.SIGKILL)


def watch(pipe: IO[str]) -> None:
    """Collect guarded processes from ``pipe`` until it closes, then stop them all."""
    guarded = [Guarded.parse(line) for line in pipe if line.strip()]
    stop_all(reversed(guarded))


class AlreadyRunning(RuntimeError):
    """Another `memoire up` holds the lock on the same data directory."""


def hold_lock(path: Path) -> IO[str]:
    """An exclusive lock on ``path``, held while the returned file is open (the kernel drops
    it when the process ends, SIGKILL included); :class:`AlreadyRunning` if another process
    has it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    held = path.open("a+")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.seek(0)
        owner = held.read().strip() or "?"
        held.close()
        raise AlreadyRunning(
            f"another `memoire up` (pid {owner}) is running on {path.parent}: stop it first, "
            "or give this one its own MEMOIRE_DATA_DIR"
        ) from None
    held.truncate(0)
    held.write(str(os.getpid()))
    held.flush()
    return held


@dataclass
class Supervisor:
    """Restarts a service of the stack that died, while `memoire up` runs."""

    services: list[Service]
    watchdog: Watchdog

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            for service in self.services:
                if not service.alive():
                    await self._restart(service)

    async def _restart(self, service: Service) -> None:
        log.warning("%s is not running; restarting it", service.name)
        try:
            await asyncio.to_thread(service.restart)
        except Exception:
            log.exception("could not restart %s; trying again in %ss", service.name, CHECK_SECONDS)
            return
        self.watchdog.guard_service(service)
        process = service.guarded()
        log.warning("%s restarted (pid %s)", service.name, process.pid if process else "?")


if __name__ == "__main__":
    # The watchdog must outlive `up` and its terminal: ignore what would stop it early.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    watch(sys.stdin)

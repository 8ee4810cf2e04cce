"""A process of the local stack as its supervisor sees it: alive, restarted, guarded, stopped.

Postgres (run by pgserver) and the inspector (a thread of `memoire up`) answer those questions
their own way. Every other process (Redis, Envoy, a worker, a server) is a child started in a
process group of its own, and :class:`ChildProcess` answers them once for all of them.
"""

import contextlib
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Guarded:
    """A process the watchdog stops: its pid, the signal that stops it gently, and whether it
    leads a process group of its own (then the whole group is signalled)."""

    pid: int
    stop_signal: signal.Signals = signal.SIGTERM
    group: bool = True

    def line(self) -> str:
        return f"{self.pid} {self.stop_signal.name} {'group' if self.group else 'one'}\n"

    @classmethod
    def parse(cls, line: str) -> "Guarded":
        pid, name, scope = line.split()
        return cls(int(pid), signal.Signals[name], scope == "group")


class Service(Protocol):
    """A process of the stack that can say whether it runs, be started again and be stopped."""

    name: str

    def alive(self) -> bool: ...

    def restart(self) -> None: ...

    def guarded(self) -> Guarded | None:
        """How the watchdog stops the current process (None: not running)."""
        ...

    def stop(self) -> None: ...


class ChildProcess(ABC):
    """A child process leading a process group of its own.

    The group is what ``stop`` and the watchdog signal, so a child's own children (a worker's
    beat, say) stop with it; and a Ctrl-C meant for `memoire up` never reaches it, so `up` can
    stop the stack in order.
    """

    name: str
    # How long ``stop`` lets the group end after SIGTERM before it kills it.
    stop_seconds: float = 10.0
    _process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def start(self) -> object:
        """Start the process (and wait until it serves, where that can be asked)."""

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def restart(self) -> None:
        """Start again with the same settings (a port taken at the first start is kept)."""
        self.stop()
        self.start()

    def guarded(self) -> Guarded | None:
        return Guarded(self._process.pid) if self._process is not None and self.alive() else None

    def stop(self) -> None:
        """Stop the whole group, even when its leader is gone already."""
        if self._process is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self._process.wait(self.stop_seconds)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self._process.wait()
        self._process = None

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, sig)

    def _spawn(
        self,
        command: list[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        quiet: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Run ``command`` in a new session; its output goes to ``log`` (appended), nowhere
        when ``quiet``, else to this process's own."""
        output: int | None = subprocess.DEVNULL if quiet else None
        with contextlib.ExitStack() as files:
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
                output = files.enter_context(log.open("ab")).fileno()
            self._process = subprocess.Popen(  # noqa: S603 - our own binaries and arguments
                command,
                env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if log is not None else output,
                start_new_session=True,
            )
        return self._process

    def _wait_ready(self, ready: Callable[[], T | None], timeout: float, *, hint: str = "") -> T:
        """Poll ``ready`` until it answers; stop the process and raise RuntimeError if it exits
        or ``timeout`` seconds pass first. ``hint`` ends the error (where to look)."""
        try:
            return self._poll(ready, timeout, hint)
        except BaseException:
            self.stop()
            raise

    def _poll(self, ready: Callable[[], T | None], timeout: float, hint: str) -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}{hint}")
            answer = ready()
            if answer is not None:
                return answer
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} was not ready in {timeout:g}s{hint}")

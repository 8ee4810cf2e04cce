"""CPU time of the server and of Postgres, read from /proc, to put a cost on every call.

Latency on a shared machine says how long a call waited; CPU seconds per call say what it
cost, which is what decides how many calls a core can serve. A process's time is the run time
of its threads (``/proc/<pid>/task/*/schedstat``, in nanoseconds: clock ticks are too coarse
for short levels) plus ``cutime + cstime`` (the children it has reaped), plus the same for each
live descendant, so Postgres backends that exit during a level are still counted.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces or parentheses.
    return text[text.rindex(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    """Every live process's children, by parent pid."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is not None:
            out.setdefault(int(fields[1]), []).append(int(entry.name))
    return out


def _own_seconds(pid: int, fields: list[str]) -> float:
    """CPU seconds of a live process's threads; its clock ticks where schedstat is missing."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        # utime and stime are fields 14 and 15 of the stat line (11 and 12 here).
        return (int(fields[11]) + int(fields[12])) / TICKS
    return total / 1e9


def tree_seconds(pid: int, children: dict[int, list[int]] | None = None) -> float:
    """CPU seconds of a process and all its descendants, the reaped ones included."""
    kids = _children() if children is None else children
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        fields = _stat(current)
        if fields is None:
            continue
        # cutime and cstime are fields 16 and 17 of the stat line (13 and 14 here).
        reaped = (int(fields[13]) + int(fields[14])) / TICKS
        total += _own_seconds(current, fields) + reaped
        stack.extend(kids.get(current, []))
    return total


def postmaster_pid(pgdata: Path) -> int:
    """The Postgres server's pid: the first line of ``postmaster.pid`` in its data directory."""
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


@dataclass(frozen=True)
class Reading:
    """CPU seconds used so far by each side of a call."""

    server: float
    postgres: float
    client: float


@dataclass(frozen=True)
class Meter:
    """Reads the CPU of the server, of Postgres (the postmaster and all its backends) and of
    this process (the bench's client, which shares the cores)."""

    server_pid: int
    postgres_pid: int

    def read(self) -> Reading:
        children = _children()
        return Reading(
            server=tree_seconds(self.server_pid, children),
            postgres=tree_seconds(self.postgres_pid, children),
            client=time.process_time(),
        )


def per_call(before: Reading, after: Reading, calls: int) -> dict[str, float]:
    """CPU milliseconds per call of each side between two readings."""
    if calls <= 0:
        return {"server_ms": 0.0, "postgres_ms": 0.0, "client_ms": 0.0, "calls": 0}

    def ms(a: float, b: float) -> float:
        return round(max(0.0, b - a) * 1000 / calls, 3)

    return {
        "server_ms": ms(before.server, after.server),
        "postgres_ms": ms(before.postgres, after.postgres),
        "client_ms": ms(before.client, after.client),
        "calls": calls,
    }

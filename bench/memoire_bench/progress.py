"""Progress of a run: a click progress bar per phase, or silence."""

import sys
from typing import Any

import click


class Bars:
    """One progress bar per phase, on stderr; the last one is closed when the next begins."""

    def __init__(self) -> None:
        self._bar: Any = None

    def phase(self, label: str, total: int) -> None:
        self.close()
        self._bar = click.progressbar(length=total, label=f"{label:<12}", file=sys.stderr)
        self._bar.__enter__()

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


class Silent:
    """No output (for tests)."""

    def phase(self, label: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

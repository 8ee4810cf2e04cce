"""What the CLI tells a person when a command fails, and the exit code it tells a script."""

from typing import NoReturn

import click

# Exit codes a script can test (2 is click's, for a bad command line).
EXIT_FAILED = 1
EXIT_UNREACHABLE = 3
EXIT_KEY_REFUSED = 4
EXIT_PORT_IN_USE = 5


class Failure(Exception):
    """A failed command as one line with the reason and the fix, and its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def fail(failure: Failure) -> NoReturn:
    """Tell a failure in one line, as click tells a usage error, and exit with its code.

    The codes: 1 a failed call, 2 a bad command line (click's), 3 no server, 4 a refused
    key, 5 a port in use.
    """
    click.echo(f"Error: {failure}", err=True)
    raise SystemExit(failure.exit_code)


def port_in_use(what: str, port: int, option: str) -> Failure:
    return Failure(
        f"port {port} ({what}) is in use, perhaps by another `memoire up`: stop that, or "
        f"choose another port with {option}",
        EXIT_PORT_IN_USE,
    )

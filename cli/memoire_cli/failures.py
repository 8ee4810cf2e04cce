"""What the CLI tells a person when a command fails, and the exit code it tells a script."""

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

"""The one exception tree of Mémoire; adapters map each class to their own status codes."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (``messages[0].content``) and what is wrong."""

    field: str
    description: str


class MemoireError(Exception):
    """Root of every expected failure; ``reason`` is a stable UPPER_SNAKE code."""

    reason = "MEMOIRE_ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidArgument(MemoireError):
    """The request is malformed; ``violations`` name each bad field."""

    reason = "INVALID_ARGUMENT"

    # Shown in the status; the rest are counted. Statuses travel in headers, which are small.
    MAX_SHOWN = 20

    def __init__(self, violations: list[FieldViolation]) -> None:
        shown = violations[: self.MAX_SHOWN]
        summary = "; ".join(f"{v.field}: {v.description}" for v in shown[:5])
        if len(violations) > 5:
            summary += f"; and {len(violations) - 5} more"
        super().__init__(f"invalid request: {summary}")
        self.violations = shown


class Unauthenticated(MemoireError):
    """No valid API key came with the request."""

    reason = "API_KEY_INVALID"


class PermissionDenied(MemoireError):
    """The key is valid but may not do this."""

    reason = "PERMISSION_DENIED"


class NotFound(MemoireError):
    """The thing does not exist, or belongs to someone the key cannot see."""

    reason = "NOT_FOUND"


class AlreadyExists(MemoireError):
    """A create collided with an existing resource that differs."""

    reason = "ALREADY_EXISTS"


class FailedPrecondition(MemoireError):
    """The system is not in a state that allows the operation."""

    reason = "FAILED_PRECONDITION"


class ConfigurationError(FailedPrecondition):
    """A setting, or what it points at, cannot work; the message names the setting to change."""

    reason = "CONFIGURATION_INVALID"


class Unavailable(MemoireError):
    """A dependency (database, broker) cannot be reached right now; retrying may work.

    ``retry_after`` is how many seconds a caller should wait before its first retry.
    """

    reason = "UNAVAILABLE"

    def __init__(
        self, message: str, *, reason: str | None = None, retry_after: float = 1.0
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class ResourceExhausted(MemoireError):
    """The caller is over a limit; ``retry_after`` says how many seconds to wait."""

    reason = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, reason: str | None = None, retry_after: float) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


@dataclass
class Violations:
    """Collects field violations and raises them together, so callers see every problem at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        self.items.append(FieldViolation(field_path, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)

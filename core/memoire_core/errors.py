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

    def __init__(self, violations: list[FieldViolation]) -> None:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(f"invalid request: {summary}")
        self.violations = violations


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


class Unavailable(MemoireError):
    """A dependency (database, broker) cannot be reached right now; retrying may work."""

    reason = "UNAVAILABLE"


@dataclass
class Violations:
    """Collects field violations and raises them together, so callers see every problem at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        self.items.append(FieldViolation(field_path, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)

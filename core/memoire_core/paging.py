"""Opaque keyset page tokens: the sort position of the last row, never an offset."""

import base64
import json
import uuid
from datetime import datetime

from memoire_core.errors import FieldViolation, InvalidArgument


def encode(created_at: datetime, row_id: uuid.UUID) -> str:
    """A token that resumes after the row at this position."""
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> tuple[datetime, uuid.UUID] | None:
    """The position a token resumes after; None for the first page."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created), uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(
            [FieldViolation("page_token", "is not a token this API issued")]
        ) from exc

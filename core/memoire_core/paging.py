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
    refused = InvalidArgument([FieldViolation("page_token", "is not a token this API issued")])
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError as exc:
        raise refused from exc
    if not (
        isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(p, str) for p in decoded)
    ):
        raise refused
    try:
        created, row_id = datetime.fromisoformat(decoded[0]), uuid.UUID(decoded[1])
    except ValueError as exc:
        raise refused from exc
    if created.tzinfo is None:  # every token this API issues carries its UTC offset
        raise refused
    return created, row_id

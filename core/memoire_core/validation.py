"""Checks on caller input that name the offending field; the limits come from settings."""

import re

from memoire_core.config import Limits
from memoire_core.errors import Violations

SLOT_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
SHOWN_KEY_CHARS = 128


def utf8_len(value: str) -> int:
    return len(value.encode("utf-8", errors="surrogatepass"))


def check_text(
    v: Violations, path: str, value: str, max_bytes: int, *, required: bool = True
) -> None:
    """A text field: present when required, within its byte limit, free of NUL characters."""
    if required and not value.strip():
        v.add(path, "is required")
    elif utf8_len(value) > max_bytes:
        v.add(path, f"is longer than {max_bytes} bytes")
    elif "\x00" in value:
        v.add(path, "must not contain NUL characters")


def check_id(v: Violations, path: str, value: str, limits: Limits, *, required: bool) -> None:
    """An app-chosen id: 1 to ``id_chars`` printable characters."""
    if not value:
        if required:
            v.add(path, "is required")
        return
    if len(value) > limits.id_chars:
        v.add(path, f"is longer than {limits.id_chars} characters")
    elif not value.isprintable() or value != value.strip():
        v.add(path, "must be printable with no leading or trailing spaces")


def check_metadata(v: Violations, path: str, metadata: dict[str, str], limits: Limits) -> None:
    """Caller metadata: a bounded number of short keys and values."""
    if len(metadata) > limits.metadata_keys:
        v.add(path, f"has more than {limits.metadata_keys} entries")
        return
    for key, value in metadata.items():
        entry = f"{path}[{_cut(key)!r}]"
        if not key or utf8_len(key) > limits.metadata_key_bytes:
            v.add(entry, f"key must be 1 to {limits.metadata_key_bytes} bytes")
        elif utf8_len(value) > limits.metadata_value_bytes:
            v.add(entry, f"value is longer than {limits.metadata_value_bytes} bytes")
        elif "\x00" in key or "\x00" in value:
            v.add(entry, "must not contain NUL characters")


def _cut(key: str) -> str:
    """A caller's key as a field path shows it: a huge one is cut, so the error stays small."""
    return key if len(key) <= SHOWN_KEY_CHARS else key[:SHOWN_KEY_CHARS] + "…"


def check_slot(v: Violations, path: str, slot: str, limits: Limits) -> None:
    """A slot key: dotted lower-case words such as ``location.home``."""
    if slot and (len(slot) > limits.slot_chars or not SLOT_PATTERN.match(slot)):
        v.add(
            path,
            f"must be dotted lower-case words of [a-z0-9_], at most {limits.slot_chars} characters",
        )


def check_count(v: Violations, path: str, count: int, maximum: int) -> None:
    """A repeated field: at least one item and at most ``maximum``."""
    if count == 0:
        v.add(path, "must have at least one item")
    elif count > maximum:
        v.add(path, f"has more than {maximum} items")


def check_limit(v: Violations, path: str, value: int, maximum: int) -> None:
    """A page size or result limit: 0 for the default, else 1 to ``maximum``."""
    if value < 0 or value > maximum:
        v.add(path, f"must be between 0 and {maximum}")

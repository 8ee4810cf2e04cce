"""API key material: random secrets, shown once, stored only as a keyed hash."""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "mem"
_KEY_ID_BYTES = 9  # unique per key and safe to log
# Part of the key's format, not a tunable: base64 of the id's bytes, with no padding.
KEY_ID_CHARS = _KEY_ID_BYTES * 4 // 3
_SECRET_BYTES = 32


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the public id, the full secret for the caller, and the hash to store."""

    key_id: str
    secret: str
    secret_hash: bytes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hash_secret(server_secret: bytes, secret: str) -> bytes:
    """HMAC-SHA256 of the full key under the server secret; a stolen table reveals no key."""
    return hmac.new(server_secret, secret.encode("utf-8"), hashlib.sha256).digest()


def issue(server_secret: bytes) -> IssuedKey:
    """Draw a fresh key ``mem_<key id>_<secret>``."""
    key_id = _b64(secrets.token_bytes(_KEY_ID_BYTES)).replace("_", "x").replace("-", "y")
    secret = f"{PREFIX}_{key_id}_{_b64(secrets.token_bytes(_SECRET_BYTES))}"
    return IssuedKey(key_id, secret, hash_secret(server_secret, secret))


def key_id_of(secret: str) -> str | None:
    """The public id inside a presented key, or None when it is not shaped like one of ours."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != KEY_ID_CHARS or not parts[2]:
        return None
    return parts[1]


def matches(server_secret: bytes, secret: str, stored_hash: bytes) -> bool:
    """Constant-time check of a presented key against the stored hash."""
    return hmac.compare_digest(hash_secret(server_secret, secret), stored_hash)

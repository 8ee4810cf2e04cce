"""API key material: unguessable, shown once, verified only against a keyed hash."""

from memoire_core import keys

SECRET = b"server-secret"


def test_an_issued_key_verifies_and_carries_its_public_id():
    issued = keys.issue(SECRET)
    assert keys.key_id_of(issued.secret) == issued.key_id
    assert keys.matches(SECRET, issued.secret, issued.secret_hash)
    assert issued.secret not in issued.secret_hash.hex()


def test_a_key_fails_under_another_server_secret_or_when_altered():
    issued = keys.issue(SECRET)
    assert not keys.matches(b"other", issued.secret, issued.secret_hash)
    assert not keys.matches(SECRET, issued.secret[:-1] + "x", issued.secret_hash)


def test_keys_carry_at_least_32_random_bytes_and_never_repeat():
    drawn = {keys.issue(SECRET).secret for _ in range(200)}
    assert len(drawn) == 200
    assert all(len(s.split("_", 2)[2]) >= 43 for s in drawn)  # 32 bytes in base64url


def test_strings_not_shaped_like_keys_have_no_id():
    for text in ("", "mem", "mem__x", "sk-abc", "mem_short_x", "xyz_AAAAAAAAAAAA_secret"):
        assert keys.key_id_of(text) is None

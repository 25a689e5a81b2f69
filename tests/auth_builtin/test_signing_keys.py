"""The built-in issuer's ES256 keys: made once in the data folder (0600), kept across restarts,
rotated with the old public key published until its last token has expired."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from joserfc.errors import InvalidKeyIdError

from livebase.auth.builtin.signing_keys import KEYS_FILE, SKEW_SECONDS, SigningKeys

from .conftest import verify

NOW = 1_700_000_000
TTL = 900


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_makes_one_key_in_a_private_file(tmp_path: Path) -> None:
    keys = SigningKeys.open(tmp_path / "data", token_seconds=TTL, now=NOW)
    path = tmp_path / "data" / KEYS_FILE
    assert mode(path) == 0o600
    assert not (tmp_path / "data" / (KEYS_FILE + ".tmp")).exists()
    jwks = keys.public_jwks(NOW)
    [key] = jwks["keys"]
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256"
    assert key["kid"] == keys.current.kid and key["use"] == "sig"
    assert "d" not in key  # never the private part


def test_keys_survive_a_restart(tmp_path: Path) -> None:
    first = SigningKeys.open(tmp_path, token_seconds=TTL, now=NOW)
    token = first.sign({"sub": "a", "exp": NOW + TTL})
    again = SigningKeys.open(tmp_path, token_seconds=TTL, now=NOW + 10)
    assert again.current.kid == first.current.kid
    assert verify(token, again.public_jwks(NOW + 10), NOW + 10)["sub"] == "a"


def test_rotation_signs_with_a_new_kid_and_keeps_the_old_key_until_its_tokens_expire(
    tmp_path: Path,
) -> None:
    keys = SigningKeys.open(tmp_path, token_seconds=TTL, now=NOW)
    old_kid = keys.current.kid
    old_token = keys.sign({"sub": "a", "exp": NOW + TTL})
    rotated_at = NOW + 60
    new = keys.rotate(rotated_at)
    assert new.kid != old_kid and keys.current.kid == new.kid
    new_token = keys.sign({"sub": "b", "exp": rotated_at + TTL})
    assert verify(new_token, keys.public_jwks(rotated_at), rotated_at)["kid"] == new.kid

    # Until the last token the old key could have signed has expired (plus clock skew), both
    # keys are published, and the old token keeps verifying.
    last_moment = rotated_at + TTL + SKEW_SECONDS
    kids = [k["kid"] for k in keys.public_jwks(last_moment)["keys"]]
    assert kids == [new.kid, old_kid]
    assert verify(old_token, keys.public_jwks(NOW + TTL - 1), NOW + TTL - 1)["kid"] == old_kid
    # The rotation is on disk: a restart publishes the same two keys.
    reopened = SigningKeys.open(tmp_path, token_seconds=TTL, now=last_moment)
    assert [k["kid"] for k in reopened.public_jwks(last_moment)["keys"]] == kids

    # Then the old key goes, from the JWKS and (at the next change) from the file.
    after = last_moment + 1
    assert [k["kid"] for k in keys.public_jwks(after)["keys"]] == [new.kid]
    with pytest.raises(InvalidKeyIdError):
        verify(old_token, keys.public_jwks(after), NOW)
    reopened = SigningKeys.open(tmp_path, token_seconds=TTL, now=after)
    stored = json.loads((tmp_path / KEYS_FILE).read_text())
    assert [k["kid"] for k in stored["keys"]] == [new.kid]
    assert mode(tmp_path / KEYS_FILE) == 0o600


def test_a_longer_lifetime_seen_once_keeps_retired_keys_longer(tmp_path: Path) -> None:
    """Tokens signed while the lifetime was an hour may live an hour, even if the server was
    restarted with 15 minutes since."""
    SigningKeys.open(tmp_path, token_seconds=3600, now=NOW)
    keys = SigningKeys.open(tmp_path, token_seconds=TTL, now=NOW)
    old_kid = keys.current.kid
    keys.rotate(NOW)
    published = keys.public_jwks(NOW + 3600)["keys"]
    assert old_kid in [k["kid"] for k in published]


def test_a_file_readable_by_others_is_made_private(tmp_path: Path) -> None:
    SigningKeys.open(tmp_path, token_seconds=TTL, now=NOW)
    (tmp_path / KEYS_FILE).chmod(0o644)
    SigningKeys.open(tmp_path, token_seconds=TTL, now=NOW)
    assert mode(tmp_path / KEYS_FILE) == 0o600


def test_a_damaged_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / KEYS_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=r"not a valid signing key file.*restore it"):
        SigningKeys.open(tmp_path, token_seconds=TTL, now=NOW)

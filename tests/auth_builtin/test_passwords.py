"""argon2id hashing of built-in account passwords, and the password rules."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from livebase.auth.builtin.passwords import MIN_PASSWORD_LENGTH, Passwords, check_password
from livebase.errors import ValidationError

from .conftest import CHEAP


def test_a_hash_is_argon2id_and_verifies_only_its_password() -> None:
    passwords = Passwords(CHEAP)
    stored = passwords.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert passwords.verify(stored, "correct horse")
    assert not passwords.verify(stored, "correct horsE")
    assert not passwords.verify(stored, "")


def test_two_hashes_of_one_password_differ() -> None:
    passwords = Passwords(CHEAP)
    assert passwords.hash("correct horse") != passwords.hash("correct horse")


def test_short_password_is_refused_with_the_minimum() -> None:
    with pytest.raises(ValidationError, match="at least 8") as info:
        Passwords(CHEAP).hash("x" * (MIN_PASSWORD_LENGTH - 1))
    assert info.value.code == "WeakPassword"
    assert check_password("x" * MIN_PASSWORD_LENGTH) == "x" * MIN_PASSWORD_LENGTH


def test_overlong_or_non_string_password_is_refused() -> None:
    with pytest.raises(ValidationError, match="too long"):
        check_password("x" * 1025)
    with pytest.raises(ValidationError, match="must be a string"):
        check_password(12345678)


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(hash))
        return super().verify(hash, password)


def test_unknown_account_checks_the_dummy_hash_and_never_matches() -> None:
    hasher = CountingHasher()
    passwords = Passwords(hasher)
    assert not passwords.verify(None, "anything at all")
    # The same argon2 work as for a real account: one verification against a real hash.
    assert len(hasher.verified) == 1 and hasher.verified[0].startswith("$argon2id$v=19$m=8,t=1")


def test_a_hash_with_old_parameters_needs_a_rehash_and_still_verifies() -> None:
    old = Passwords(CHEAP).hash("correct horse")
    stronger = Passwords(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert stronger.verify(old, "correct horse")
    assert stronger.needs_rehash(old)
    assert not stronger.needs_rehash(stronger.hash("correct horse"))
    assert not stronger.verify("not a hash", "correct horse")
    assert stronger.needs_rehash("not a hash")

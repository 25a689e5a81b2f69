"""Password hashing for built-in accounts: argon2id through argon2-cffi, and the password rules.

A stored hash carries its own parameters, so hashes made with older parameters keep verifying;
``needs_rehash`` tells the caller to store a fresh hash after a successful sign-in. An unknown
account is checked against a dummy hash made with the same parameters, so a sign-in takes as
long whether or not the email exists (timing does not reveal which accounts there are).
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from livebase.errors import ValidationError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
"""Longer passwords are refused: hashing cost grows with the input, and no one types more."""


def check_password(password: object) -> str:
    """``password`` if it may be set as a new password; ``ValidationError`` (code
    ``WeakPassword``) naming the rule it breaks otherwise."""
    if not isinstance(password, str):
        raise ValidationError("the password must be a string", code="WeakPassword")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"the password is too short: {len(password)} characters, at least "
            f"{MIN_PASSWORD_LENGTH} are needed",
            code="WeakPassword",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(
            f"the password is too long: at most {MAX_PASSWORD_LENGTH} characters",
            code="WeakPassword",
        )
    return password


class Passwords:
    """Hashes and checks passwords. Every method is CPU-bound (tens of milliseconds with the
    default parameters): call them off the event loop."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        """``hasher``: argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile)
        unless given; tests pass cheaper parameters."""
        self.hasher = hasher or PasswordHasher()
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """The argon2id hash to store for a new password (checked by ``check_password``)."""
        return self.hasher.hash(check_password(password))

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; ``stored`` None (no such account) costs the
        same time and is never a match."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            password = ""
        try:
            ok = self.hasher.verify(stored if stored is not None else self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with other parameters than the current ones."""
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True


__all__ = ["MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "Passwords", "check_password"]

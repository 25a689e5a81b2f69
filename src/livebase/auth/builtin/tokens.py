"""Access and refresh tokens of the built-in issuer.

An access token is an ES256 JWT signed with the current key (``kid`` in its header) with the
claims ``iss``, ``sub``, ``aud``, ``iat``, ``nbf``, ``exp``, ``email`` and ``email_verified``;
it cannot be revoked and lives ``LIVEBASE_AUTH_ACCESS_TOKEN_SECONDS`` (15 minutes).

A refresh token is opaque (``lbrt_`` and 256 random bits); only its SHA-256 is stored, in the
``_auth_refresh_tokens`` system table. Every sign-in starts a family; each refresh marks the
token it used and hands out the next one of the family. A token presented a second time means
two parties hold it, so the whole family is revoked and both must sign in again (OAuth 2.0
Security BCP, refresh token rotation). A family also ends when its account is disabled, when
its password is reset, or by revocation (``/auth/revoke``, RFC 7009: sign-out).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livebase.auth.builtin.accounts import Account, Accounts
from livebase.auth.builtin.signing_keys import SigningKeys
from livebase.auth.builtin.tables import (
    AuthTables,
    Row,
    Rows,
    account_key,
    family_key,
    token_key,
)
from livebase.errors import InvalidGrantError
from livebase.runtime import Runtime

log = logging.getLogger("livebase.auth")

REFRESH_PREFIX = "lbrt_"
PRUNE_EVERY_SECONDS = 600
_PRUNE_BATCH = 500


@dataclass(frozen=True)
class IssuedTokens:
    """The answer of a successful ``POST /auth/token``."""

    access_token: str
    expires_in: int
    refresh_token: str

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class _Refused:
    """A refresh that failed after changing something (revoking a family) that must commit."""

    error: InvalidGrantError


class Tokens:
    """Issues, rotates and revokes the tokens of one deployment's built-in issuer."""

    def __init__(
        self,
        tables: AuthTables,
        accounts: Accounts,
        keys: SigningKeys,
        runtime: Runtime,
        *,
        issuer: Callable[[], str],
        audience: str,
        access_seconds: int,
        refresh_seconds: int,
    ) -> None:
        self.tables = tables
        self.accounts = accounts
        self.keys = keys
        self.runtime = runtime
        self.issuer = issuer
        self.audience = audience
        self.access_seconds = access_seconds
        self.refresh_seconds = refresh_seconds
        self._pruned_at = 0

    def now(self) -> int:
        return self.runtime.time_ns() // 1_000_000_000

    def access_token(self, account: Account) -> str:
        now = self.now()
        claims = {
            "iss": self.issuer(),
            "sub": account.subject,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.access_seconds,
            "email": account.email,
            "email_verified": False,
        }
        return self.keys.sign(claims)

    async def issue(self, account: Account) -> IssuedTokens:
        """Tokens for a fresh sign-in: a new refresh-token family."""
        now_ns = self.runtime.time_ns()
        now = now_ns // 1_000_000_000
        family = self.runtime.random_bytes(16).hex()
        refresh = self._new_refresh_token()

        def start(rows: Rows) -> None:
            expires = now + self.refresh_seconds
            rows.put(family_key(family), {"subject": account.subject, "created": now,
                                          "created_ns": now_ns, "expires": expires,
                                          "revoked": None})  # fmt: skip
            rows.expire_at(expires, family_key(family))
            self._put_refresh(rows, refresh, family, account.subject, now)

        await self.tables.write(start)
        await self._maybe_prune(now)
        return IssuedTokens(self.access_token(account), self.access_seconds, refresh)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotate ``refresh_token``: the next token of its family and a new access token;
        ``InvalidGrantError`` naming the reason when it is not valid."""
        now = self.now()
        token_hash = hash_token(refresh_token)
        successor = self._new_refresh_token()

        def rotate(rows: Rows) -> Account | _Refused:
            row = rows.get(token_key(token_hash))
            family_row = rows.get(family_key(row["family"])) if row is not None else None
            if row is None or family_row is None or row["expires"] <= now:
                return _Refused(
                    InvalidGrantError(
                        "the refresh token is not valid (unknown or expired): sign in again",
                        code="RefreshTokenInvalid",
                    )
                )
            family, subject = str(row["family"]), str(row["subject"])
            revoked = family_row.get("revoked")
            if revoked is not None:
                return _Refused(
                    InvalidGrantError(
                        f"the refresh token was revoked ({revoked['reason']}): sign in again",
                        code="RefreshTokenRevoked",
                    )
                )
            if row.get("used") is not None:
                _revoke_family(rows, family, family_row, now, "it was used twice")
                log.warning(
                    "a refresh token of account %s was used twice: its family %s is revoked",
                    subject,
                    family,
                )
                return _Refused(
                    InvalidGrantError(
                        "the refresh token was already used, so it may have been stolen: the "
                        "whole token family is revoked; sign in again",
                        code="RefreshTokenReused",
                    )
                )
            account_row = rows.get(account_key(subject))
            account = Account.from_row(account_row) if account_row is not None else None
            refusal = _account_refusal(account, family_row)
            if refusal is not None:
                error, reason = refusal
                _revoke_family(rows, family, family_row, now, reason)
                return _Refused(error)
            assert account is not None
            rows.put(token_key(token_hash), {**row, "used": now})
            expires = now + self.refresh_seconds
            rows.put(family_key(family), {**family_row, "expires": expires})
            rows.expire_at(expires, family_key(family))
            self._put_refresh(rows, successor, family, subject, now)
            return account

        outcome = await self.tables.write(rotate)
        if isinstance(outcome, _Refused):
            raise outcome.error
        await self._maybe_prune(now)
        return IssuedTokens(self.access_token(outcome), self.access_seconds, successor)

    async def revoke(self, token: str) -> bool:
        """RFC 7009: end the session of a refresh token (its whole family). Unknown tokens and
        access tokens (which cannot be revoked: they expire) change nothing; False then."""
        now = self.now()
        token_hash = hash_token(token)

        def revoke(rows: Rows) -> bool:
            row = rows.get(token_key(token_hash))
            family_row = rows.get(family_key(row["family"])) if row is not None else None
            if row is None or family_row is None or family_row.get("revoked") is not None:
                return False
            _revoke_family(rows, str(row["family"]), family_row, now, "signed out")
            return True

        revoked = await self.tables.write(revoke)
        if revoked:
            log.info("a refresh token family was revoked (sign-out)")
        return revoked

    async def prune(self, now: int | None = None) -> int:
        """Delete expired refresh tokens and families; how many rows went."""
        now = self.now() if now is None else now
        total = 0
        while True:

            def take(rows: Rows) -> int:
                keys = rows.take_expired(now, _PRUNE_BATCH)
                for key in keys:
                    row = rows.get(key)
                    # A family's expiry moves on with each refresh: only its last marker counts.
                    if row is not None and int(row.get("expires", 0)) <= now:
                        rows.delete(key)
                return len(keys)

            taken = await self.tables.write(take)
            total += taken
            if taken < _PRUNE_BATCH:
                return total

    async def _maybe_prune(self, now: int) -> None:
        if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = now
            await self.prune(now)

    def _new_refresh_token(self) -> str:
        raw = self.runtime.random_bytes(32)
        return REFRESH_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def _put_refresh(self, rows: Rows, token: str, family: str, subject: str, now: int) -> None:
        expires = now + self.refresh_seconds
        key = token_key(hash_token(token))
        rows.put(key, {"family": family, "subject": subject, "created": now,
                       "expires": expires, "used": None})  # fmt: skip
        rows.expire_at(expires, key)


def _account_refusal(account: Account | None, family: Row) -> tuple[InvalidGrantError, str] | None:
    """Why the account of a family may not refresh (the error, and the reason its family is
    revoked for), or None."""
    if account is None:
        error = InvalidGrantError("the account no longer exists", code="AccountNotFound")
        return error, "account removed"
    if account.disabled:
        return InvalidGrantError("this account is disabled", code="AccountDisabled"), "disabled"
    if int(family.get("created_ns", 0)) < account.sessions_after:
        error = InvalidGrantError(
            "the password was reset after this session began: sign in again",
            code="PasswordReset",
        )
        return error, "password reset"
    return None


def _revoke_family(rows: Rows, family: str, row: Row, now: int, reason: str) -> None:
    rows.put(family_key(family), {**row, "revoked": {"at": now, "reason": reason}})


__all__ = ["REFRESH_PREFIX", "IssuedTokens", "Tokens", "hash_token"]

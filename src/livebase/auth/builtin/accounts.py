"""Built-in accounts: email + password, kept in the ``_auth_accounts`` system table.

An email is normalised (trimmed, lower-cased) and unique. Each account has a ``subject``, a
random id that never changes (the ``sub`` of its tokens, so renaming an email would not make it
someone else). A disabled account cannot sign in or refresh; resetting a password ends every
session begun before it (their refresh tokens stop working). Password hashing runs in worker
threads, a few at a time, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

from livebase.auth.builtin.passwords import Passwords
from livebase.auth.builtin.tables import (
    AuthTables,
    Row,
    Rows,
    account_key,
    email_key,
    scan_accounts,
)
from livebase.errors import (
    AccountExistsError,
    AccountNotFoundError,
    InvalidGrantError,
    ValidationError,
)
from livebase.runtime import Runtime

log = logging.getLogger("livebase.auth")

MAX_EMAIL_LENGTH = 254
T = TypeVar("T")


@dataclass(frozen=True)
class Account:
    subject: str
    email: str
    password_hash: str
    disabled: bool
    created_at: int
    """Unix seconds, like ``updated_at``."""
    updated_at: int
    sessions_after: int = 0
    """Unix nanoseconds: sessions begun before this moment (a password reset) cannot refresh."""
    admin: bool = False
    """May sign in to the dashboard (``/_dashboard``); only the admin key grants or revokes it."""

    def public(self) -> dict[str, Any]:
        """What the admin API shows: everything but the password hash."""
        return {
            "email": self.email,
            "subject": self.subject,
            "disabled": self.disabled,
            "admin": self.admin,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    @classmethod
    def from_row(cls, row: Row) -> Account:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k in row})


def normalize_email(email: object) -> str:
    """``email`` trimmed and lower-cased; ``ValidationError`` (``InvalidEmail``) if it does not
    look like an address."""
    if not isinstance(email, str):
        raise ValidationError("the email must be a string", code="InvalidEmail")
    normal = email.strip().lower()
    local, at, domain = normal.rpartition("@")
    if (
        not at
        or not local
        or not domain
        or len(normal) > MAX_EMAIL_LENGTH
        or any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in normal)
    ):
        raise ValidationError(f"{email!r} is not an email address", code="InvalidEmail")
    return normal


class Accounts:
    """Add, list, disable, reset and authenticate built-in accounts."""

    def __init__(
        self,
        tables: AuthTables,
        passwords: Passwords,
        runtime: Runtime,
        *,
        hashing_slots: int = 4,
    ) -> None:
        self.tables = tables
        self.passwords = passwords
        self.runtime = runtime
        self._hashing = asyncio.Semaphore(hashing_slots)
        """Bounds the hashes computed at once (each takes tens of MiB and a core)."""

    def now(self) -> int:
        return self.runtime.time_ns() // 1_000_000_000

    async def _hash_work(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._hashing:
            return await asyncio.to_thread(fn, *args)

    # -- reads -----------------------------------------------------------------------------------

    def get(self, subject: str) -> Account | None:
        row = self.tables.read(lambda rows: rows.get(account_key(subject)))
        return Account.from_row(row) if row is not None else None

    def by_email(self, email: str) -> Account | None:
        return self.tables.read(lambda rows: _by_email(rows, email))

    def list(self) -> list[Account]:
        """Every account, by email."""
        accounts = self.tables.read(lambda rows: [Account.from_row(r) for r in scan_accounts(rows)])
        return sorted(accounts, key=lambda a: a.email)

    def account_active(self, subject: str) -> bool:
        """Whether ``subject`` names an account that exists and is not disabled (what a token
        verifier asks before it trusts a token of this issuer)."""
        account = self.get(subject)
        return account is not None and not account.disabled

    # -- writes ----------------------------------------------------------------------------------

    async def add(self, email: str, password: str) -> Account:
        normal = normalize_email(email)
        if self.by_email(normal) is not None:  # before hashing: a duplicate answers at once
            raise AccountExistsError(f"an account for {normal} already exists")
        password_hash = await self._hash_work(self.passwords.hash, password)
        now = self.now()
        subject = self.runtime.random_bytes(16).hex()
        account = Account(subject, normal, password_hash, False, now, now)

        def insert(rows: Rows) -> None:
            if rows.get_text(email_key(normal)) is not None:
                raise AccountExistsError(f"an account for {normal} already exists")
            rows.put(account_key(subject), asdict(account))
            rows.put(email_key(normal), subject)

        await self.tables.write(insert)
        log.info("built-in account %s added (subject %s)", normal, subject)
        return account

    async def set_disabled(self, email: str, disabled: bool) -> Account:
        """Disable (or enable again) an account. A disabled account's tokens are refused by
        the verifier and its refresh tokens stop working."""
        normal = normalize_email(email)
        account = await self._update(normal, lambda a: replace(a, disabled=disabled))
        log.info("built-in account %s %s", normal, "disabled" if disabled else "enabled")
        return account

    async def set_admin(self, email: str, admin: bool) -> Account:
        """Grant (or revoke) the dashboard's admin role; a revoked account's dashboard sessions
        are refused from the next request on."""
        normal = normalize_email(email)
        account = await self._update(normal, lambda a: replace(a, admin=admin))
        log.info("built-in account %s: admin %s", normal, "granted" if admin else "revoked")
        return account

    async def reset_password(self, email: str, password: str) -> Account:
        """Set a new password; every session begun before now has to sign in again."""
        normal = normalize_email(email)
        if self.by_email(normal) is None:
            raise _not_found(normal)
        password_hash = await self._hash_work(self.passwords.hash, password)
        now_ns = self.runtime.time_ns()
        account = await self._update(
            normal, lambda a: replace(a, password_hash=password_hash, sessions_after=now_ns)
        )
        log.info("built-in account %s: password reset", normal)
        return account

    async def _update(self, email: str, change: Callable[[Account], Account]) -> Account:
        now = self.now()

        def update(rows: Rows) -> Account:
            account = _by_email(rows, email)
            if account is None:
                raise _not_found(email)
            new = replace(change(account), updated_at=now)
            rows.put(account_key(new.subject), asdict(new))
            return new

        return await self.tables.write(update)

    # -- sign-in ---------------------------------------------------------------------------------

    async def authenticate(self, email: str, password: str) -> Account:
        """The account ``email`` and ``password`` sign in to; ``InvalidGrantError`` otherwise.
        A wrong password and an unknown email get the same error after the same work."""
        try:
            normal = normalize_email(email)
        except ValidationError:
            normal = ""
        account = self.by_email(normal) if normal else None
        stored = account.password_hash if account is not None else None
        if not await self._hash_work(self.passwords.verify, stored, password):
            raise InvalidGrantError("invalid email or password", code="InvalidCredentials")
        assert account is not None
        if account.disabled:
            raise InvalidGrantError("this account is disabled", code="AccountDisabled")
        if self.passwords.needs_rehash(account.password_hash):
            await self._rehash(account, password)
        return account

    async def _rehash(self, account: Account, password: str) -> None:
        """Store a hash with the current parameters, unless the password changed meanwhile."""
        new_hash = await self._hash_work(self.passwords.hasher.hash, password)

        def update(rows: Rows) -> None:
            row = rows.get(account_key(account.subject))
            if row is not None and row.get("password_hash") == account.password_hash:
                rows.put(account_key(account.subject), {**row, "password_hash": new_hash})

        await self.tables.write(update)


def _by_email(rows: Rows, email: str) -> Account | None:
    subject = rows.get_text(email_key(email))
    row = rows.get(account_key(subject)) if subject is not None else None
    return Account.from_row(row) if row is not None else None


def _not_found(email: str) -> AccountNotFoundError:
    return AccountNotFoundError(f"there is no account for {email}")


__all__ = ["MAX_EMAIL_LENGTH", "Account", "Accounts", "normalize_email"]

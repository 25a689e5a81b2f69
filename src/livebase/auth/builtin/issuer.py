"""``BuiltinIssuer``: one deployment's built-in accounts, keys, tokens and sign-in limits.

It is what the token verifier sees of the built-in issuer (``issuer``, ``public_jwks``,
``account_active``: the ``BuiltinKeys`` protocol of ``livebase.auth.verifier``) and what the
endpoints call. The issuer URL is ``LIVEBASE_AUTH_ISSUER`` when set, else the server's own
listen address, which the server reports through ``listening`` once it has a port.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from livebase.auth.builtin.accounts import Account, Accounts
from livebase.auth.builtin.declared import DEFAULT_AUDIENCE
from livebase.auth.builtin.key_stores import KEYS_FILE, DatabaseKeyStore, FileKeyStore
from livebase.auth.builtin.passwords import Passwords
from livebase.auth.builtin.ratelimit import FailureLimiter
from livebase.auth.builtin.signing_keys import SigningKey, SigningKeys
from livebase.auth.builtin.tables import AuthTables
from livebase.auth.builtin.tokens import IssuedTokens, Tokens
from livebase.config import Settings
from livebase.errors import InvalidGrantError, SlowDownError
from livebase.runtime import Runtime, SystemRuntime
from livebase.storage.base import Storage

log = logging.getLogger("livebase.auth")

UNBOUND_ISSUER = "http://127.0.0.1:3210"
"""The issuer before the server has said where it listens (``livebase dev``'s default)."""


class BuiltinIssuer:
    """The built-in issuer of one deployment (``Deployment.builtin_issuer``)."""

    def __init__(
        self,
        data_dir: Path,
        storage: Storage,
        *,
        settings: Settings | None = None,
        runtime: Runtime | None = None,
        audience: str = DEFAULT_AUDIENCE,
        passwords: Passwords | None = None,
    ) -> None:
        """Opens (or makes) the signing keys in ``data_dir`` (in ``storage`` when it is shared
        by several nodes); accounts and refresh tokens live in ``storage``. ``passwords``: a
        ``Passwords`` with cheaper parameters, for tests."""
        self.settings = settings or Settings()
        self.runtime: Runtime = runtime or SystemRuntime()
        self._listen_url: str | None = None
        self.tables = AuthTables(storage)
        key_file = FileKeyStore(data_dir / KEYS_FILE)
        # Several nodes on one database share one key set there (each would refuse the
        # others' tokens with a key file of its own).
        store = DatabaseKeyStore(storage, seed=key_file) if storage.shared else key_file
        if storage.shared and not self.settings.auth_issuer.strip():
            log.warning(
                "the built-in issuer runs on a database shared by several nodes without "
                "LIVEBASE_AUTH_ISSUER: each node names its own address as the issuer, so the "
                "others refuse its tokens; set LIVEBASE_AUTH_ISSUER to the URL clients use"
            )
        self.keys = SigningKeys.open_in(
            store, token_seconds=self.settings.auth_access_token_seconds, now=self._now()
        )
        self.accounts = Accounts(self.tables, passwords or Passwords(), self.runtime)
        self.tokens = Tokens(
            self.tables,
            self.accounts,
            self.keys,
            self.runtime,
            issuer=lambda: self.issuer,
            audience=audience,
            access_seconds=self.settings.auth_access_token_seconds,
            refresh_seconds=self.settings.auth_refresh_token_seconds,
        )
        window = self.settings.auth_failure_window_seconds
        self.account_failures = FailureLimiter(
            self.settings.auth_account_failures, window, self._seconds
        )
        self.address_failures = FailureLimiter(
            self.settings.auth_address_failures, window, self._seconds
        )

    # -- what the verifier sees (livebase.auth.verifier.BuiltinKeys) -----------------------------

    @property
    def issuer(self) -> str:
        """The ``iss`` of this issuer's tokens, without a trailing slash."""
        configured = self.settings.auth_issuer.strip().rstrip("/")
        return configured or self._listen_url or UNBOUND_ISSUER

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS: the current public key and the retired ones whose tokens may be valid."""
        return self.keys.public_jwks(self._now())

    def account_active(self, subject: str) -> bool:
        """Whether ``subject`` is an account that exists and is not disabled."""
        return self.accounts.account_active(subject)

    # -- the server ------------------------------------------------------------------------------

    @property
    def audience(self) -> str:
        return self.tokens.audience

    @audience.setter
    def audience(self, value: str) -> None:
        self.tokens.audience = value

    def listening(self, host: str, port: int) -> None:
        """Where the server listens, for the issuer URL when ``LIVEBASE_AUTH_ISSUER`` is not
        set: ``http://127.0.0.1:PORT`` for a wildcard or loopback address."""
        if host in ("", "0.0.0.0", "::", "localhost"):
            host = "127.0.0.1"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        self._listen_url = f"http://{host}:{port}"

    @property
    def bound(self) -> bool:
        """Whether the issuer URL is known (configured, or the listen address reported)."""
        return bool(self.settings.auth_issuer.strip()) or self._listen_url is not None

    def rotate_keys(self) -> SigningKey:
        return self.keys.rotate(self._now())

    async def sign_in(self, email: str, password: str, address: str | None) -> IssuedTokens:
        """The password grant: tokens for the account ``check_password`` finds."""
        return await self.tokens.issue(await self.check_password(email, password, address))

    async def check_password(self, email: str, password: str, address: str | None) -> Account:
        """The account ``email`` and ``password`` sign in to, with the per-account and
        per-address limits on failures: ``SlowDownError`` when either is exhausted,
        ``InvalidGrantError`` when the credentials do not hold."""
        account_key = email.strip().lower() if isinstance(email, str) else ""
        limits = [(self.account_failures, account_key, "this account")]
        if address:
            limits.append((self.address_failures, address, "this address"))
        for limiter, key, what in limits:
            wait = limiter.retry_after(key)
            if wait is not None:
                raise SlowDownError(
                    f"too many failed sign-ins for {what}: try again in {wait} s",
                    retry_after=wait,
                )
        try:
            account = await self.accounts.authenticate(email, password)
        except InvalidGrantError as exc:
            if exc.code == "InvalidCredentials":
                for limiter, key, _ in limits:
                    limiter.failed(key)
            raise
        self.account_failures.clear(account_key)
        return account

    def _now(self) -> int:
        return self.runtime.time_ns() // 1_000_000_000

    def _seconds(self) -> float:
        return self.runtime.time_ns() / 1e9


__all__ = ["UNBOUND_ISSUER", "BuiltinIssuer"]

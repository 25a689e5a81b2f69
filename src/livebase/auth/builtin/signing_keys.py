"""The built-in issuer's signing keys: ES256 (P-256) key pairs, kept in ``auth_keys.json`` in
the data folder (readable by its owner only, 0600) or, for several nodes on one database, in the
database (``key_stores``). The set is made at the first start with one key.

Each key has a ``kid`` (its RFC 7638 thumbprint, shortened), which every token names in its
header. ``rotate`` makes a new current key; the previous one stops signing but its public half
stays in the JWKS until every token it signed has expired (the longest access-token lifetime
seen, plus a margin for clock skew), so rotating never signs anyone out. Each change is written
atomically.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

from livebase.auth.builtin.key_stores import KEYS_FILE, FileKeyStore, KeyStore, write_private

log = logging.getLogger("livebase.auth")

ALGORITHM = "ES256"
SKEW_SECONDS = 300
"""How long past their last token's expiry retired keys stay published (clock skew)."""


@dataclass
class SigningKey:
    kid: str
    key: ECKey
    created: int
    """Unix seconds."""
    retired: int | None = None
    """When it stopped signing (Unix seconds); None for the current key."""

    def public_jwk(self) -> dict[str, Any]:
        jwk = self.key.as_dict(private=False)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "jwk": self.key.as_dict(private=True),
            "created": self.created,
            "retired": self.retired,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SigningKey:
        key = ECKey.import_key(data["jwk"])
        return cls(str(data["kid"]), key, int(data["created"]), data.get("retired"))

    @classmethod
    def generate(cls, now: int) -> SigningKey:
        key = ECKey.generate_key("P-256", private=True)
        return cls(key.thumbprint()[:16], key, now)


class SigningKeys:
    """The key set of one deployment; ``sign`` uses the current key. With a shared store
    (several nodes on one database) the set is read again at most every ``RELOAD_SECONDS``
    when it is used, so a rotation on one node reaches the others within about a second."""

    RELOAD_SECONDS = 1

    def __init__(self, store: KeyStore, text: str, now: int) -> None:
        self.store = store
        self._set(text)
        self._read_at = now

    @classmethod
    def open(cls, data_dir: Path, *, token_seconds: int, now: int) -> SigningKeys:
        """Load ``data_dir/auth_keys.json``, or make it with one key."""
        return cls.open_in(FileKeyStore(data_dir / KEYS_FILE), token_seconds=token_seconds, now=now)

    @classmethod
    def open_in(cls, store: KeyStore, *, token_seconds: int, now: int) -> SigningKeys:
        """Load the key set from ``store``, or make it there with one key; retired keys none
        of whose tokens can still be valid are dropped."""
        made: list[str] = []

        def prepare(text: str | None) -> str:
            if text is None:
                key = SigningKey.generate(now)
                made.append(key.kid)
                return _dump([key], token_seconds)
            keys, seen = _parse(text, store.where)
            longest = max(seen, token_seconds)
            return _dump(_unexpired(keys, longest, now), longest)

        keys = cls(store, store.update(prepare), now)
        if made:
            log.info("made the built-in issuer's signing key %s in %s", made[0], store.where)
        return keys

    @property
    def current(self) -> SigningKey:
        return next(k for k in self.keys if k.retired is None)

    def rotate(self, now: int) -> SigningKey:
        """Make a new current key; the old one keeps verifying the tokens it signed."""
        new = SigningKey.generate(now)

        def rotated(text: str | None) -> str:
            keys, longest = (self.keys, 0) if text is None else _parse(text, self.store.where)
            longest = max(longest, self.max_token_seconds)
            for key in keys:
                if key.retired is None:
                    key.retired = now
            return _dump(_unexpired([new, *keys], longest, now), longest)

        self._set(self.store.update(rotated))
        self._read_at = now
        log.info("signing keys rotated: %s is current", new.kid)
        return new

    def published(self, now: int) -> list[SigningKey]:
        """The current key and the retired ones whose tokens may still be valid."""
        self._reload_if_due(now)
        return [k for k in self.keys if not _expired(k, self.max_token_seconds, now)]

    def public_jwks(self, now: int) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.published(now)]}

    def sign(self, claims: dict[str, Any]) -> str:
        issued = claims.get("iat")
        if isinstance(issued, int):
            self._reload_if_due(issued)
        key = self.current
        return jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}, claims, key.key)

    def _set(self, text: str) -> None:
        self._text = text
        self.keys, self.max_token_seconds = _parse(text, self.store.where)

    def _reload_if_due(self, now: int) -> None:
        if not self.store.shared or now - self._read_at < self.RELOAD_SECONDS:
            return
        self._read_at = now
        text = self.store.load()
        if text is not None and text != self._text:
            self._set(text)


def _parse(text: str, where: str) -> tuple[list[SigningKey], int]:
    try:
        data = json.loads(text)
        keys = [SigningKey.from_json(k) for k in data["keys"]]
        longest = int(data.get("max_token_seconds", 0))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{where} is not a valid signing key file ({exc}); restore it from a backup, or "
            "move it away to make new keys (tokens signed with the old ones stop working)"
        ) from None
    if sum(k.retired is None for k in keys) != 1:
        raise ValueError(f"{where} must hold exactly one current (not retired) key")
    return keys, longest


def _dump(keys: list[SigningKey], max_token_seconds: int) -> str:
    data = {"keys": [k.to_json() for k in keys], "max_token_seconds": max_token_seconds}
    return json.dumps(data, indent=2) + "\n"


def _expired(key: SigningKey, max_token_seconds: int, now: int) -> bool:
    if key.retired is None:
        return False
    return now > key.retired + max_token_seconds + SKEW_SECONDS


def _unexpired(keys: list[SigningKey], max_token_seconds: int, now: int) -> list[SigningKey]:
    """Without the retired keys none of whose tokens can still be valid."""
    return [k for k in keys if not _expired(k, max_token_seconds, now)]


__all__ = ["ALGORITHM", "KEYS_FILE", "SigningKey", "SigningKeys", "write_private"]

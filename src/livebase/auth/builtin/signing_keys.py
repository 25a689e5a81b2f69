"""The built-in issuer's signing keys: ES256 (P-256) key pairs kept in ``auth_keys.json``.

The file lives in the data folder, is readable by its owner only (0600) and is made at the
first start with one key. Each key has a ``kid`` (its RFC 7638 thumbprint, shortened), which
every token names in its header. ``rotate`` makes a new current key; the previous one stops
signing but its public half stays in the JWKS until every token it signed has expired (the
longest access-token lifetime the file has seen, plus a margin for clock skew), so rotating
never signs anyone out. The file is replaced atomically on each change.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

log = logging.getLogger("livebase.auth")

KEYS_FILE = "auth_keys.json"
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
    """The key set of one deployment; ``sign`` uses the current key."""

    def __init__(self, path: Path, keys: list[SigningKey], max_token_seconds: int) -> None:
        self.path = path
        self.keys = keys
        self.max_token_seconds = max_token_seconds
        """The longest access-token lifetime used with these keys: how long a retired key must
        stay published."""

    @classmethod
    def open(cls, data_dir: Path, *, token_seconds: int, now: int) -> SigningKeys:
        """Load ``data_dir/auth_keys.json``, or make it with one key."""
        path = data_dir / KEYS_FILE
        if not path.exists():
            keys = cls(path, [SigningKey.generate(now)], token_seconds)
            keys.save()
            log.info("made the built-in issuer's signing key %s in %s", keys.current.kid, path)
            return keys
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); now 0600", path, mode)
            path.chmod(0o600)
        try:
            data = json.loads(path.read_text())
            keys = cls(
                path,
                [SigningKey.from_json(k) for k in data["keys"]],
                max(int(data.get("max_token_seconds", 0)), token_seconds),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path} is not a valid signing key file ({exc}); restore it from a backup, or "
                "move it away to make new keys (tokens signed with the old ones stop working)"
            ) from None
        if sum(k.retired is None for k in keys.keys) != 1:
            raise ValueError(f"{path} must hold exactly one current (not retired) key")
        if keys.max_token_seconds != data.get("max_token_seconds") or keys._expire(now):
            keys.save()
        return keys

    @property
    def current(self) -> SigningKey:
        return next(k for k in self.keys if k.retired is None)

    def rotate(self, now: int) -> SigningKey:
        """Make a new current key; the old one keeps verifying the tokens it signed."""
        new = SigningKey.generate(now)
        self.current.retired = now
        self.keys.insert(0, new)
        self._expire(now)
        self.save()
        log.info("signing keys rotated: %s is current", new.kid)
        return new

    def published(self, now: int) -> list[SigningKey]:
        """The current key and the retired ones whose tokens may still be valid."""
        return [k for k in self.keys if not self._expired(k, now)]

    def public_jwks(self, now: int) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.published(now)]}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.current
        return jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}, claims, key.key)

    def _expired(self, key: SigningKey, now: int) -> bool:
        if key.retired is None:
            return False
        return now > key.retired + self.max_token_seconds + SKEW_SECONDS

    def _expire(self, now: int) -> bool:
        """Forget retired keys none of whose tokens can still be valid; True if any went."""
        kept = [k for k in self.keys if not self._expired(k, now)]
        changed = len(kept) != len(self.keys)
        self.keys = kept
        return changed

    def save(self) -> None:
        """Replace the file atomically; it is never readable by others, not even briefly."""
        data = {
            "keys": [k.to_json() for k in self.keys],
            "max_token_seconds": self.max_token_seconds,
        }
        write_private(self.path, json.dumps(data, indent=2) + "\n")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a 0600 temporary file, fsynced and renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode through O_CREAT
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


__all__ = ["ALGORITHM", "KEYS_FILE", "SigningKey", "SigningKeys", "write_private"]

"""The key environment variables are encrypted under, and AES-GCM on each value.

The key is 32 random bytes: ``LIVEBASE_ENV_KEY`` (base64) when set — every node sharing one
database must be given the same one — else the file ``env_key`` in the data folder (base64,
mode 0600), made the first time a variable is set. Each value is sealed with a fresh 96-bit
nonce and its variable's name as associated data (a value cannot be moved to another name).
A key is known by its id, the first 16 hex digits of a SHA-256 over it, kept beside every
value so a node holding another key says so instead of failing obscurely.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from livebase.auth.builtin.key_stores import FileKeyStore, write_private
from livebase.errors import LivebaseError

KEY_FILE = "env_key"
KEY_ENV = "LIVEBASE_ENV_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12


class EnvKeyError(LivebaseError):
    """This node cannot encrypt or decrypt the deployment's environment variables."""

    code = "EnvKeyMismatch"
    http_status = 500


class EnvKey:
    """One AES-256-GCM key and where it came from (named in messages)."""

    def __init__(self, key: bytes, where: str) -> None:
        self._aead = AESGCM(key)
        self.where = where
        self.kid = hashlib.sha256(b"livebase-env-key:" + key).hexdigest()[:16]

    def seal(self, name: str, value: str) -> tuple[str, str]:
        """``(nonce, ciphertext)``, both base64."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8", "surrogatepass"), _aad(name))
        return _b64(nonce), _b64(sealed)

    def open(self, name: str, nonce: str, sealed: str) -> str:
        """The value; ``EnvKeyError`` if this key did not seal it (or the row was altered)."""
        try:
            plain = self._aead.decrypt(_unb64(nonce), _unb64(sealed), _aad(name))
        except (InvalidTag, ValueError, binascii.Error):
            raise EnvKeyError(
                f"environment variable {name} cannot be decrypted with the key from "
                f"{self.where} (key id {self.kid}): the stored value was altered"
            ) from None
        return plain.decode("utf-8", "surrogatepass")


class KeySource:
    """Finds the key: ``LIVEBASE_ENV_KEY``, else ``env_key`` in ``data_dir`` (made on demand)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / KEY_FILE
        self._key: EnvKey | None = None

    @property
    def where(self) -> str:
        return KEY_ENV if os.environ.get(KEY_ENV) else str(self.path)

    def load(self, *, create: bool) -> EnvKey | None:
        """The key; None if there is none yet and ``create`` is false. A malformed
        ``LIVEBASE_ENV_KEY`` or key file raises ``EnvKeyError`` saying which."""
        if self._key is not None:
            return self._key
        text = os.environ.get(KEY_ENV)
        if text:
            self._key = EnvKey(_decode_key(text, KEY_ENV), KEY_ENV)
            return self._key
        stored = FileKeyStore(self.path).load()  # makes a too-open file 0600, with a warning
        if stored is None:
            if not create:
                return None
            stored = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n"
            write_private(self.path, stored)
        self._key = EnvKey(_decode_key(stored, str(self.path)), str(self.path))
        return self._key


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip().encode(), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise EnvKeyError(
            f"{where} must hold {KEY_BYTES} random bytes in base64 (make one with: "
            'python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())")'
        )
    return key


def _aad(name: str) -> bytes:
    return b"livebase-env:" + name.encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


__all__ = ["KEY_ENV", "KEY_FILE", "EnvKey", "EnvKeyError", "KeySource"]

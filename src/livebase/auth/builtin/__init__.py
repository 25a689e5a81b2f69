"""The built-in issuer: email + password accounts, with OAuth 2.0 tokens signed by the deployment.

An app turns it on with ``providers = [{"type": "builtin"}]`` in its ``auth.py``; the server then
answers ``POST /auth/token``, ``POST /auth/revoke``, ``/.well-known/openid-configuration`` and
``/.well-known/jwks.json`` (``endpoints``), and ``livebase users ...`` manages the accounts.
Modules: ``passwords`` (argon2id), ``signing_keys`` (ES256 keys in the data folder), ``tables``
(the ``_auth_accounts`` / ``_auth_refresh_tokens`` system tables), ``accounts``, ``tokens``
(access and rotating refresh tokens), ``ratelimit``, ``declared`` (reading ``auth.py``),
``issuer`` (``BuiltinIssuer``, tying them together) and ``cli``.
"""

from livebase.auth.builtin.declared import builtin_enabled, builtin_provider
from livebase.auth.builtin.issuer import BuiltinIssuer

__all__ = ["BuiltinIssuer", "builtin_enabled", "builtin_provider"]

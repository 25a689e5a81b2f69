"""Identity: who a call speaks for, proven by a user token (a JWT) from a provider the app trusts.

::

    providers.py   the providers an app declares in APP_DIR/auth.py (OIDC, custom JWT, built-in)
    keys.py        the issuers' public keys: fetched, cached, refreshed on a new kid
    verifier.py    Verifier.verify(token) -> Identity, or InvalidTokenError naming the reason
    identity.py    Identity: ctx.auth.get_user_identity(), and its Convex UserIdentity wire form
"""

from livebase.auth.identity import Identity
from livebase.auth.keys import KeySet
from livebase.auth.providers import (
    BuiltinProvider,
    CustomJwtProvider,
    OidcProvider,
    Provider,
    builtin,
    custom_jwt,
    oidc,
    parse_providers,
)
from livebase.auth.verifier import BuiltinKeys, Verifier

__all__ = [
    "BuiltinKeys",
    "BuiltinProvider",
    "CustomJwtProvider",
    "Identity",
    "KeySet",
    "OidcProvider",
    "Provider",
    "Verifier",
    "builtin",
    "custom_jwt",
    "oidc",
    "parse_providers",
]

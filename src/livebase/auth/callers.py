"""Who a call speaks for, as both transports (the sync socket and ``/api/*``) establish it.

A user token (a JWT) is checked by the app's providers (``livebase.auth.verifier``) through one
async callable, ``UserTokenCheck``; what comes out is a ``VerifiedUser``: the identity in its
wire form (Convex's ``UserIdentity``: ``tokenIdentifier``, ``subject``, ``issuer`` and the
claims), which is what functions, subscription keys and idempotency fingerprints see, and when
it stops being valid. The admin key may act as any identity (``impersonating`` on the socket,
``Authorization: Convex <key>:<base64 JSON>`` over HTTP); ``impersonated_identity`` checks
such an identity.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from livebase.errors import UnauthenticatedError


@dataclass(frozen=True)
class VerifiedUser:
    """A user token that checked out: who it speaks for and until when."""

    identity: dict[str, Any]
    """The identity in its wire form (``UserIdentity``)."""
    expires_at: float
    """Unix seconds (the token's ``exp``)."""


UserTokenCheck = Callable[[str], Awaitable[VerifiedUser]]
"""Checks a user token; raises a ``LivebaseError`` naming the reason when it does not hold."""


async def no_user_tokens(token: str) -> VerifiedUser:
    """The check of an app that declares no identity providers."""
    raise UnauthenticatedError(
        "this app accepts no user tokens: declare its identity providers in APP_DIR/auth.py "
        "(providers = [...], see docs/auth.md)",
        code="NoAuthProvider",
    )


ADMIN_ISSUER = "livebase:admin"
"""The issuer of an identity the admin acts as when it names none."""


def impersonated_identity(attributes: Any) -> dict[str, Any]:
    """The identity the admin key acts as, from ``UserIdentityAttributes``: an object with a
    ``subject`` (and usually an ``issuer``); ``tokenIdentifier`` is built as for tokens."""
    if not isinstance(attributes, dict):
        raise UnauthenticatedError("the identity to act as must be a JSON object")
    subject = attributes.get("subject")
    if not isinstance(subject, str) or not subject:
        raise UnauthenticatedError('the identity to act as needs a "subject" (a string)')
    issuer = attributes.get("issuer", ADMIN_ISSUER)
    if not isinstance(issuer, str) or not issuer:
        raise UnauthenticatedError('the identity to act as has an "issuer" that is not a string')
    return {**attributes, "subject": subject, "issuer": issuer,
            "tokenIdentifier": f"{issuer}|{subject}"}  # fmt: skip


def identity_from_header_suffix(suffix: str) -> dict[str, Any]:
    """The identity in ``Authorization: Convex <key>:<base64 of UTF-8 JSON>``."""
    try:
        attributes = json.loads(base64.b64decode(suffix.strip(), validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise UnauthenticatedError(
            "the identity after the admin key is not base64 of a JSON object "
            "(Authorization: Convex <admin key>:<base64 JSON>)"
        ) from None
    return impersonated_identity(attributes)

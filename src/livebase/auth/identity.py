"""Who a verified token speaks for: ``Identity``, and ``UserIdentity``, what
``ctx.auth.get_user_identity()`` returns.

An identity is built from a token's verified claims (``Identity.from_claims``) and travels in
Convex's ``UserIdentity`` shape (``to_wire`` / ``from_wire``): ``tokenIdentifier``,
``subject``, ``issuer``, the standard OpenID Connect claims under Convex's camelCase names
(``pictureUrl``, ``emailVerified``, ...) when present, and every custom claim, nested objects
flattened into dotted keys (``identity["properties.id"]``) as Convex does. The wire form is what
functions, subscription keys and the admin key's "act as" exchange, so it leaves out the
per-token claims (``exp``, ``iat``, ``jti``, ...): a refreshed token for the same user must
give the same identity, or every refresh would split the subscriptions it shares.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

# OpenID Connect standard claim -> Convex ``UserIdentity`` field.
_STANDARD_CLAIMS: dict[str, str] = {
    "name": "name",
    "given_name": "givenName",
    "family_name": "familyName",
    "nickname": "nickname",
    "preferred_username": "preferredUsername",
    "profile": "profileUrl",
    "picture": "pictureUrl",
    "email": "email",
    "email_verified": "emailVerified",
    "gender": "gender",
    "birthdate": "birthday",
    "zoneinfo": "timezone",
    "locale": "language",
    "phone_number": "phoneNumber",
    "phone_number_verified": "phoneNumberVerified",
    "address": "address",
    "updated_at": "updatedAt",
}
_FROM_WIRE: dict[str, str] = {wire: claim for claim, wire in _STANDARD_CLAIMS.items()}

_PER_TOKEN_CLAIMS = frozenset({"aud", "exp", "nbf", "iat", "jti", "nonce", "at_hash", "c_hash"})
"""Claims about the token rather than the user: kept in ``claims``, left out of the wire form."""

_OWN_CLAIMS = frozenset({"sub", "iss", "tokenIdentifier", "subject", "issuer"})
"""Claims that are (or would pose as) the identity's own fields, never copied as custom ones."""


@dataclass(frozen=True, eq=False)
class Identity:
    """A verified user: ``subject`` and ``issuer`` always, the rest when the token has it.

    Custom claims are read like a mapping: ``identity["org"]``, ``identity.get("org")``,
    ``"org" in identity``; a dotted name reaches into a nested claim
    (``identity["properties.id"]``).
    """

    subject: str
    issuer: str
    claims: Mapping[str, Any]
    """Every claim of the token, read-only (``sub``, ``iss``, ``exp``, custom ones, ...)."""

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Identity:
        """The identity a token's (already verified) claims describe; ``ValueError`` when
        ``sub`` or ``iss`` is missing or not a non-empty string."""
        subject, issuer = claims.get("sub"), claims.get("iss")
        if not isinstance(subject, str) or not subject:
            raise ValueError('the claims have no "sub" (a non-empty string)')
        if not isinstance(issuer, str) or not issuer:
            raise ValueError('the claims have no "iss" (a non-empty string)')
        # A deep copy: nothing the caller keeps can change the identity afterwards.
        return cls(subject, issuer, MappingProxyType(copy.deepcopy(dict(claims))))

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Identity:
        """The identity in a ``UserIdentity``-shaped dict (what ``to_wire`` gives, or what the
        admin key passes to act as a user). ``tokenIdentifier`` is rebuilt from ``issuer`` and
        ``subject``; a different one is refused (``ValueError``) rather than silently changed."""
        if not isinstance(data, Mapping):
            raise ValueError(f"an identity must be an object, not {type(data).__name__}")
        claims: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("subject", "issuer", "tokenIdentifier"):
                continue
            claims[_FROM_WIRE.get(key, key)] = value
        claims["sub"], claims["iss"] = data.get("subject"), data.get("issuer")
        try:
            identity = cls.from_claims(claims)
        except ValueError:
            raise ValueError(
                'an identity needs "subject" and "issuer" (non-empty strings)'
            ) from None
        given = data.get("tokenIdentifier")
        if given is not None and given != identity.token_identifier:
            raise ValueError(
                f"tokenIdentifier {given!r} is not issuer|subject ({identity.token_identifier!r})"
            )
        return identity

    @property
    def token_identifier(self) -> str:
        """``issuer|subject``, as Convex builds it: the stable key of a user across providers."""
        return f"{self.issuer}|{self.subject}"

    @property
    def name(self) -> str | None:
        return _string(self.claims.get("name"))

    @property
    def email(self) -> str | None:
        return _string(self.claims.get("email"))

    @property
    def email_verified(self) -> bool | None:
        return _flag(self.claims.get("email_verified"))

    @property
    def picture(self) -> str | None:
        return _string(self.claims.get("picture"))

    @property
    def expires_at(self) -> float | None:
        """The token's ``exp`` (unix seconds), when the identity came from a token."""
        exp = self.claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            return float(exp)
        return None

    def __getitem__(self, name: str) -> Any:
        if name in self.claims:
            return self.claims[name]
        # Dotted names reach into nested claims, as Convex's flattened keys do.
        value: Any = self.claims
        for part in name.split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise KeyError(name)
            value = value[part]
        return value

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self[name]
        except KeyError:
            return False
        return True

    def to_wire(self) -> dict[str, Any]:
        """Convex's ``UserIdentity``: ``tokenIdentifier``, ``subject``, ``issuer``, standard
        claims under their camelCase names and custom claims (nested ones as dotted keys)
        only when present; the per-token claims (``exp``, ``iat``, ...) are left out."""
        wire: dict[str, Any] = {
            "tokenIdentifier": self.token_identifier,
            "subject": self.subject,
            "issuer": self.issuer,
        }
        for claim, field in _STANDARD_CLAIMS.items():
            value = self.claims.get(claim)
            if claim.endswith("_verified"):
                value = _flag(value)
            if value is not None:
                wire[field] = copy.deepcopy(value)
        # Custom claims last, never over a field above: a claim cannot pose as another user.
        for claim, value in self.claims.items():
            if claim in _STANDARD_CLAIMS or claim in _PER_TOKEN_CLAIMS or claim in _OWN_CLAIMS:
                continue
            for key, leaf in _flatten(claim, value):
                wire.setdefault(key, leaf)
        return wire

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Identity):
            return NotImplemented
        return (self.subject, self.issuer, dict(self.claims)) == (
            other.subject,
            other.issuer,
            dict(other.claims),
        )

    def __hash__(self) -> int:
        return hash(self.token_identifier)

    def __repr__(self) -> str:
        # Claims can hold personal data; a repr lands in logs, so it names only the user key.
        return f"Identity({self.token_identifier!r})"


class UserIdentity(dict[str, Any]):
    """What ``ctx.auth.get_user_identity()`` returns: Convex's ``UserIdentity`` object (the
    wire form above, as a plain dict a function can return or store) with Python attributes
    for the standard fields. Custom claims are keys (``identity["org"]``, nested ones dotted:
    ``identity["properties.id"]``). Each call gets its own copy."""

    @property
    def subject(self) -> str:
        return str(self["subject"])

    @property
    def issuer(self) -> str:
        return str(self["issuer"])

    @property
    def token_identifier(self) -> str:
        """``issuer|subject``: the stable key of a user across providers."""
        return str(self["tokenIdentifier"])

    @property
    def name(self) -> str | None:
        return _string(self.get("name"))

    @property
    def email(self) -> str | None:
        return _string(self.get("email"))

    @property
    def email_verified(self) -> bool | None:
        return _flag(self.get("emailVerified"))

    @property
    def picture(self) -> str | None:
        return _string(self.get("pictureUrl"))


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _flag(value: Any) -> bool | None:
    # Some issuers (Amazon Cognito among them) send the verified flags as "true"/"false".
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    return None


def _flatten(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for sub, inner in value.items():
            yield from _flatten(f"{key}.{sub}", inner)
    else:
        yield key, copy.deepcopy(value)


__all__ = ["Identity", "UserIdentity"]
